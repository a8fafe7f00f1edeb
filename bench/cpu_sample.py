# CPU seconds per second of each process group (Chromium by --type, splitfeat-cloud,
# node), read from /proc once a second, for docs/results-web.md ("Where the two cores go").
# Run beside tests/measure.mjs: python3 bench/cpu_sample.py > cpu.log
import os, time, sys, collections
hz = os.sysconf('SC_CLK_TCK')
def snap():
    d = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            stat = open(f'/proc/{pid}/stat').read()
            cmd = open(f'/proc/{pid}/cmdline').read().replace('\0', ' ')
        except Exception: continue
        f = stat.rsplit(')', 1)[1].split()
        t = int(f[11]) + int(f[12])
        if 'chromium' in cmd or 'chrome' in cmd:
            ty = 'chrome-' + (cmd.split('--type=')[1].split()[0] if '--type=' in cmd else 'browser')
            if 'renderer' in ty and '--extension-process' in cmd: ty += '-ext'
        elif 'splitfeat-cloud' in cmd: ty = 'cloud'
        elif 'node' in cmd.split(' ')[0]: ty = 'node'
        else: ty = 'other:' + os.path.basename(cmd.split(' ')[0])[:20]
        d[pid] = (ty, t)
    return d
prev = snap(); t0 = time.time()
while True:
    time.sleep(1)
    cur = snap()
    agg = collections.Counter()
    for pid, (ty, t) in cur.items():
        agg[ty] += (t - prev.get(pid, (ty, t))[1]) / hz
    prev = cur
    top = ', '.join(f'{k} {v:.2f}' for k, v in agg.most_common(6) if v > 0.02)
    print(f'{time.time()-t0:6.1f} total {sum(agg.values()):.2f} | {top}', flush=True)
