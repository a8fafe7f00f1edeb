//! Rasterises a [`World`] seen from one camera position into a [`Sample`].
//!
//! Layers: sky, ground plane, vertical panels (facades, walls, fences, hedges,
//! vehicle sides), then upright props sorted by depth. Occlusion is decided per
//! pixel by disparity (larger = nearer), as the painter's algorithm would decide it
//! for non-intersecting objects, but also right for facades that span many depths
//! behind a car. Props go nearest first so that hidden pixels are never shaded.

use crate::Sample;
use crate::camera::{Camera, NEAR_M};
use crate::noise::{fbm2, floor_i, fract, hash2, hashf, value};
use crate::scene::*;

/// Ground lookup bins along z, metres.
const BIN_M: f32 = 0.5;

struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<Rgb>,
    labels: Vec<u8>,
    disparity: Vec<f32>,
}

/// Per-frame tables of ground features indexed by z, so that the per-pixel ground
/// pass does not search the chunk lists.
struct GroundTable {
    z0: f32,
    /// Shadow edge x per bin on the sun side; NaN where no building casts one.
    shadow: Vec<f32>,
    paved: [Vec<bool>; 2],
    crosswalks: Vec<(f32, f32)>,
}

impl GroundTable {
    /// Bins overlapping the z range `a..b`.
    fn bins(&self, a: f32, b: f32) -> std::ops::Range<usize> {
        let n = self.shadow.len();
        let lo = ((a - self.z0) / BIN_M).floor().clamp(0.0, n as f32) as usize;
        let hi = ((b - self.z0) / BIN_M).ceil().clamp(0.0, n as f32) as usize;
        lo..hi
    }

    #[inline]
    fn bin(&self, z: f32) -> Option<usize> {
        let b = (z - self.z0) * (1.0 / BIN_M);
        (b >= 0.0 && b < self.shadow.len() as f32).then_some(b as usize)
    }
}

pub(crate) struct View<'a> {
    world: &'a World,
    cam: Camera,
    table: GroundTable,
    panels: Vec<Panel>,
    props: Vec<Prop>,
    vehicles: Vec<Vehicle>,
}

impl<'a> View<'a> {
    /// The world seen from street position `pos_z`, with the lead vehicle (if any)
    /// `lead_offset` metres farther than its base distance.
    pub fn new(world: &'a World, width: u32, height: u32, pos_z: f32, lead_offset: f32) -> Self {
        let cam = Camera::new(
            width,
            height,
            world.horizon_frac,
            world.cam_height,
            world.sin_yaw,
            world.cam_x,
            pos_z,
        );
        let first = ((pos_z - 20.0) / CHUNK_M).floor() as i64;
        let last = ((pos_z + FAR_M) / CHUNK_M).floor() as i64;
        let z0 = first as f32 * CHUNK_M;
        let bins = ((last - first + 1) as f32 * CHUNK_M / BIN_M) as usize;
        let mut table = GroundTable {
            z0,
            shadow: vec![f32::NAN; bins],
            paved: [vec![false; bins], vec![false; bins]],
            crosswalks: Vec::new(),
        };
        let mut panels = Vec::new();
        let mut props = Vec::new();
        let mut vehicles = Vec::new();
        let sun_side = world.light.sun_side;
        for index in first..=last {
            let ch = world.chunk(index);
            for &(a, b, edge) in &ch.shadows {
                for i in table.bins(a, b) {
                    let cur = table.shadow[i];
                    // Where shadows overlap, the edge nearest the street wins.
                    if cur.is_nan() || (edge - cur) * sun_side < 0.0 {
                        table.shadow[i] = edge;
                    }
                }
            }
            for &(side, a, b) in &ch.paved {
                for i in table.bins(a, b) {
                    table.paved[side][i] = true;
                }
            }
            table.crosswalks.extend_from_slice(&ch.crosswalks);
            panels.extend(ch.panels);
            props.extend(ch.props);
            vehicles.extend(ch.vehicles);
        }
        if let Some(lead) = &world.lead {
            let mut v = lead.clone();
            v.z = pos_z + lead.z + lead_offset;
            vehicles.push(v);
        }
        if let Some(end) = &world.end_facade {
            let mut p = end.clone();
            p.at += pos_z;
            panels.push(p);
        }
        View {
            world,
            cam,
            table,
            panels,
            props,
            vehicles,
        }
    }

    pub fn render(&self, noise_seed: u64) -> Sample {
        let w = self.cam.width as usize;
        let h = self.cam.height as usize;
        let mut cv = Canvas {
            width: w,
            height: h,
            rgb: vec![[0.0; 3]; w * h],
            labels: vec![SKY; w * h],
            disparity: vec![0.0; w * h],
        };
        self.sky(&mut cv);
        self.ground(&mut cv);
        for v in &self.vehicles {
            self.contact_shadow(&mut cv, v);
        }
        for p in &self.panels {
            self.panel(&mut cv, p);
        }
        let lit_left = if self.world.light.sun_side > 0.0 {
            0.8
        } else {
            0.15
        };
        for v in &self.vehicles {
            let (xc, _) = self.cam.to_camera(v.x, v.z);
            let hw = 0.5 * v.width;
            // The side facing the camera is the one on the camera's side of the car.
            let side_x = if xc > hw {
                Some((v.x - hw, lit_left))
            } else if xc < -hw {
                Some((v.x + hw, 0.95 - lit_left))
            } else {
                None
            };
            if let Some((x, sun)) = side_x {
                let p = Panel {
                    along_x: false,
                    at: x,
                    lo: v.z,
                    hi: v.z + v.length,
                    top: v.height,
                    u0: v.z,
                    u_dir: 1.0,
                    sun,
                    surface: Surface::VehicleSide(v.clone()),
                };
                self.panel(&mut cv, &p);
            }
        }
        let mut order: Vec<(f32, Prop)> = self
            .props
            .iter()
            .cloned()
            .chain(self.vehicles.iter().map(|v| Prop {
                x: v.x,
                z: v.z,
                kind: PropKind::VehicleFace(v.clone()),
            }))
            .filter_map(|p| {
                let (_, zc) = self.cam.to_camera(p.x, p.z);
                (zc > NEAR_M && zc < FAR_M).then_some((zc, p))
            })
            .collect();
        // Nearest first: with the depth test this gives the painter's result (the
        // nearest surface wins) without shading pixels that are hidden later.
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, p) in &order {
            self.prop(&mut cv, p);
        }
        self.finish(cv, noise_seed)
    }

    fn sky(&self, cv: &mut Canvas) {
        let l = &self.world.light;
        let cam = &self.cam;
        let seed = self.world.cloud_seed;
        let span = cam.horizon.max(1.0);
        for r in 0..cv.height {
            let row = r as f32 + 0.5;
            if row > cam.horizon {
                break;
            }
            let t = ((cam.horizon - row) / span).clamp(0.0, 1.0);
            let base = mix(l.sky_horizon, l.sky_top, t * (2.0 - t));
            let ny = (cam.horizon - row) / cam.focal;
            for c in 0..cv.width {
                let nx = (c as f32 + 0.5 - cam.cx) / cam.focal + cam.sin_yaw;
                // Clouds flatten toward the horizon, like a layer seen at a grazing angle.
                let n = fbm2(nx * 2.5 / (ny + 0.08), ny * 14.0, seed);
                let amount = ((n - 1.0 + l.cloudiness) * 3.0).clamp(0.0, 1.0);
                cv.rgb[r * cv.width + c] = if amount > 0.0 {
                    let shade = 0.85 + 0.15 * value(nx * 9.0, ny * 30.0, seed ^ 0x55);
                    mix(base, scale(l.cloud, shade), amount * 0.9)
                } else {
                    base
                };
            }
        }
    }

    fn ground(&self, cv: &mut Canvas) {
        let cam = &self.cam;
        let l = &self.world.light;
        let lit = l.on(0.8);
        let shade = l.on(0.0);
        for r in 0..cv.height {
            let row = r as f32 + 0.5;
            if row <= cam.horizon + 1e-3 {
                continue;
            }
            let zc = cam.ground_depth(row);
            let d = cam.ground_disparity(row);
            let fog = zc / (zc + l.haze_m);
            let px_m = zc / cam.focal;
            for c in 0..cv.width {
                let xc = (c as f32 + 0.5 - cam.cx) * px_m;
                let (x, z) = cam.to_world(xc, zc);
                let (albedo, label) = self.ground_at(x, z, px_m, r, c);
                let shadow = self.table.bin(z).is_some_and(|b| {
                    let e = self.table.shadow[b];
                    !e.is_nan() && (x - e) * l.sun_side > 0.0
                });
                let light = if shadow { shade } else { lit };
                let i = r * cv.width + c;
                cv.rgb[i] = mix(
                    [
                        albedo[0] * light[0],
                        albedo[1] * light[1],
                        albedo[2] * light[2],
                    ],
                    l.sky_horizon,
                    fog,
                );
                cv.labels[i] = label;
                cv.disparity[i] = d;
            }
        }
    }

    /// Albedo and label of the ground at street point (x, z); `px_m` is the size of a
    /// pixel there, used to fade out texture finer than a pixel.
    fn ground_at(&self, x: f32, z: f32, px_m: f32, r: usize, c: usize) -> (Rgb, u8) {
        let st = &self.world.street;
        let seed = self.world.road_seed;
        let grain = (hashf(c as i32, r as i32, seed) - 0.5) * 0.12 / (1.0 + 4.0 * px_m);
        if x >= st.road[0] && x <= st.road[1] {
            let patch = value(x * 0.3, z * 0.08, seed);
            let mut k = 0.82 + 0.3 * patch + grain;
            // The darkest patches read as repaired asphalt.
            if patch < 0.18 {
                k *= 0.85;
            }
            for &(lx, _) in &st.lanes {
                let t = ((x - lx).abs() - 0.75).abs();
                if t < 0.3 {
                    k *= 0.94 + 0.2 * t;
                }
            }
            let base = scale(st.asphalt, k);
            let half = 0.075f32.max(0.6 * px_m);
            let mut mark = None;
            for line in &st.lines {
                let near = if line.double {
                    ((x - line.x).abs() - 0.12).abs() < half
                } else {
                    (x - line.x).abs() < half
                };
                if near {
                    let period = st.dash_m + st.gap_m;
                    let phase = fract(z / period);
                    if line.solid || phase * period < st.dash_m {
                        mark = Some(line.color);
                    }
                }
            }
            if mark.is_none()
                && self.table.crosswalks.iter().any(|&(a, b)| z >= a && z <= b)
                && floor_i(x * 1.6) & 1 == 0
                && x > st.road[0] + 0.4
                && x < st.road[1] - 0.4
            {
                mark = Some([0.86, 0.86, 0.84]);
            }
            if let Some(m) = mark {
                let wear = value(x * 2.0, z * 0.8, seed ^ 3) * st.mark_wear;
                return (mix(base, m, 0.9 - wear), ROAD);
            }
            return (base, ROAD);
        }
        let (si, d) = if x < st.road[0] {
            (0, st.road[0] - x)
        } else {
            (1, x - st.road[1])
        };
        let side = &st.sides[si];
        if d < side.curb {
            return (scale(side.curb_color, 0.95 + grain), SIDEWALK);
        }
        let walk_end = side.curb + side.verge + side.sidewalk;
        let verge = d < side.curb + side.verge;
        let paved =
            !verge && (d < walk_end || self.table.bin(z).is_some_and(|b| self.table.paved[si][b]));
        if paved {
            let t = side.tile_m;
            let (u, v) = (d / t, z / t);
            let (iu, iv) = (floor_i(u), floor_i(v));
            let (fu, fv) = (u - iu as f32, v - iv as f32);
            let mut k = 0.9 + 0.2 * hashf(iu, iv, seed ^ 11) + grain;
            if px_m < 0.3 * t && (fu < 0.06 || fv < 0.06) {
                k *= 0.8;
            }
            let c = if d < walk_end {
                side.sidewalk_color
            } else {
                scale(side.sidewalk_color, 0.92)
            };
            return (scale(c, k), SIDEWALK);
        }
        let n = fbm2(x * 0.6, z * 0.3, seed ^ 5);
        let mut c = scale(side.terrain_color, 0.7 + 0.5 * n + 2.0 * grain);
        if n > 0.7 {
            // Bare soil where the grass is thinnest.
            c = mix(c, [0.45, 0.38, 0.3], 0.5);
        }
        (c, TERRAIN)
    }

    /// Darkens the ground under a vehicle.
    fn contact_shadow(&self, cv: &mut Canvas, v: &Vehicle) {
        let cam = &self.cam;
        let (x0, x1) = (v.x - 0.5 * v.width - 0.15, v.x + 0.5 * v.width + 0.15);
        let (z0, z1) = (v.z - 0.3, v.z + v.length + 0.3);
        let corners = [(x0, z0), (x1, z0), (x0, z1), (x1, z1)];
        let mut cols = (f32::INFINITY, f32::NEG_INFINITY);
        let mut rows = (f32::INFINITY, f32::NEG_INFINITY);
        for (x, z) in corners {
            let (xc, zc) = cam.to_camera(x, z);
            if zc <= NEAR_M || zc > FAR_M {
                return;
            }
            let col = cam.column(xc, zc);
            let row = cam.row(0.0, zc);
            cols = (cols.0.min(col), cols.1.max(col));
            rows = (rows.0.min(row), rows.1.max(row));
        }
        let (c0, c1) = clip_range(cols.0, cols.1, cv.width);
        let (r0, r1) = clip_range(rows.0, rows.1, cv.height);
        for r in r0..r1 {
            let row = r as f32 + 0.5;
            if row <= cam.horizon {
                continue;
            }
            let zc = cam.ground_depth(row);
            for c in c0..c1 {
                let xc = (c as f32 + 0.5 - cam.cx) * zc / cam.focal;
                let (x, z) = cam.to_world(xc, zc);
                let dx = (x - x0).min(x1 - x);
                let dz = (z - z0).min(z1 - z);
                if dx > 0.0 && dz > 0.0 {
                    let k = 1.0 - 0.55 * (dx.min(dz) * 4.0).min(1.0);
                    let i = r * cv.width + c;
                    cv.rgb[i] = scale(cv.rgb[i], k);
                }
            }
        }
    }

    fn panel(&self, cv: &mut Canvas, p: &Panel) {
        let cam = &self.cam;
        let l = &self.world.light;
        let light = l.on(p.sun);
        for c in 0..cv.width {
            let col = c as f32 + 0.5;
            let zc = if p.along_x {
                cam.depth_on_z_plane(col, p.at)
            } else {
                cam.depth_on_x_plane(col, p.at)
            };
            let Some(zc) = zc.filter(|&z| z < FAR_M) else {
                continue;
            };
            let xc = (col - cam.cx) * zc / cam.focal;
            let (xw, zw) = cam.to_world(xc, zc);
            let along = if p.along_x { xw } else { zw };
            if along < p.lo || along > p.hi {
                continue;
            }
            let u = (along - p.u0) * p.u_dir;
            let d = cam.disparity(zc);
            let fog = zc / (zc + l.haze_m);
            let (r0, r1) = clip_range(cam.row(p.top, zc), cam.row(0.0, zc), cv.height);
            for r in r0..r1 {
                let i = r * cv.width + c;
                if d < cv.disparity[i] {
                    continue;
                }
                let v = cam.height_at(r as f32 + 0.5, zc);
                if let Some((albedo, label)) = self.surface(&p.surface, u, v, p.top) {
                    cv.rgb[i] = mix(
                        [
                            albedo[0] * light[0],
                            albedo[1] * light[1],
                            albedo[2] * light[2],
                        ],
                        l.sky_horizon,
                        fog,
                    );
                    cv.labels[i] = label;
                    cv.disparity[i] = d;
                }
            }
        }
    }

    fn surface(&self, s: &Surface, u: f32, v: f32, top: f32) -> Option<(Rgb, u8)> {
        match s {
            Surface::Facade(f) => Some((self.facade(f, u, v), BUILDING)),
            Surface::Wall { color, cap, seed } => {
                if v > top - 0.12 {
                    return Some((*cap, WALL));
                }
                let mut k = 0.85 + 0.3 * value(u * 1.5, v * 1.5, *seed);
                if fract(u / 2.0) < 0.015 {
                    k *= 0.75;
                }
                Some((scale(*color, k), WALL))
            }
            Surface::Fence { kind, color, seed } => {
                let rail = v > top - 0.08 || (v > 0.1 && v < 0.17);
                let hit = match kind {
                    0 => rail || fract(u / 0.14) < 0.3,
                    1 => v < top - 0.1 * (1.0 - 2.0 * (fract(u / 0.15) - 0.5).abs()),
                    _ => {
                        rail || fract(u / 2.5) < 0.03
                            || fract((u + v) / 0.12) < 0.22
                            || fract((u - v) / 0.12) < 0.22
                    }
                };
                hit.then(|| {
                    let mut k = 0.8 + 0.4 * value(u * 3.0, v * 0.5, *seed);
                    if *kind == 1 && fract(u / 0.15) < 0.12 {
                        k *= 0.7;
                    }
                    (scale(*color, k), FENCE)
                })
            }
            Surface::Hedge { color, seed } => {
                let edge = top * (0.8 + 0.2 * value(u * 1.3, 0.5, *seed));
                (v < edge).then(|| {
                    let k = 0.6 + 0.8 * value(u * 4.0, v * 4.0, *seed ^ 1);
                    (scale(*color, k), VEGETATION)
                })
            }
            Surface::VehicleSide(veh) => vehicle_side(veh, u, v),
        }
    }

    fn facade(&self, f: &Facade, u: f32, v: f32) -> Rgb {
        let weather = 0.9 + 0.2 * value(u * 0.25, v * 0.4, f.seed);
        if v > f.height - 0.35 {
            return scale(f.trim, weather);
        }
        let fl = floor_i(v / f.floor_m);
        let fv = v / f.floor_m - fl as f32;
        let bay = floor_i(u / f.bay_m);
        let fu = u / f.bay_m - bay as f32;
        let wall = scale(f.wall, weather);
        if let (true, Some(shop)) = (fl < 1, f.shops) {
            let fh = f.floor_m;
            if v < 0.25 {
                return scale(f.trim, 0.8);
            }
            if v > fh - 0.6 && v < fh - 0.15 {
                return shop;
            }
            if fu > 0.08 && fu < 0.92 && v < fh - 0.75 {
                let h = hashf(bay, 0, f.seed);
                return mix(f.glass, shop, 0.15 + 0.3 * h);
            }
            return wall;
        }
        if f.stripes && fv < 0.1 {
            return f.trim;
        }
        let half_w = 0.5 * f.win_w;
        let (w0, w1) = (0.5 - half_w, 0.5 + half_w);
        let (h0, h1) = (0.3, 0.3 + f.win_h);
        if fu > w0 && fu < w1 && fv > h0 && fv < h1 && fl >= 0 {
            let frame = 0.08 / f.bay_m;
            let frame_v = 0.08 / f.floor_m;
            if fu < w0 + frame || fu > w1 - frame || fv < h0 + frame_v || fv > h1 - frame_v {
                return f.trim;
            }
            let h = hash2(bay, fl, f.seed);
            let l = &self.world.light;
            if ((h & 0xffff) as f32) < l.lit_windows * 65536.0 {
                return [1.6, 1.3, 0.8];
            }
            let glass = scale(f.glass, 0.7 + 0.6 * ((h >> 16) & 0xff) as f32 / 255.0);
            // Upper panes catch more of the sky.
            let refl = 0.35 * (fv - h0) / (h1 - h0) * ((h >> 24) as f32 / 255.0);
            let g = mix(glass, l.sky_horizon, refl);
            if (h >> 8) & 7 == 0 {
                // Drawn blinds.
                return mix(g, [0.8, 0.78, 0.72], 0.6);
            }
            return g;
        }
        wall
    }

    fn prop(&self, cv: &mut Canvas, p: &Prop) {
        let cam = &self.cam;
        let l = &self.world.light;
        let (xc, zc) = cam.to_camera(p.x, p.z);
        let (umin, umax, vmax) = prop_bounds(&p.kind);
        let s = cam.focal / zc;
        let col0 = cam.column(xc, zc);
        let ground = cam.row(0.0, zc);
        let (c0, c1) = clip_range(col0 + umin * s, col0 + umax * s, cv.width);
        let (r0, r1) = clip_range(ground - vmax * s, ground, cv.height);
        if c0 >= c1 || r0 >= r1 {
            return;
        }
        let d = cam.disparity(zc);
        let fog = zc / (zc + l.haze_m);
        let light = l.on(0.45);
        for r in r0..r1 {
            let v = (ground - (r as f32 + 0.5)) / s;
            // Less light reaches the lower parts of an object.
            let ao = 0.78 + 0.22 * (v * 1.5).min(1.0);
            for c in c0..c1 {
                let i = r * cv.width + c;
                if d <= cv.disparity[i] {
                    continue;
                }
                let u = (c as f32 + 0.5 - col0) / s;
                if let Some((albedo, label)) = prop_shade(&p.kind, u, v, &self.world.light) {
                    cv.rgb[i] = mix(
                        [
                            albedo[0] * light[0] * ao,
                            albedo[1] * light[1] * ao,
                            albedo[2] * light[2] * ao,
                        ],
                        l.sky_horizon,
                        fog,
                    );
                    cv.labels[i] = label;
                    cv.disparity[i] = d;
                }
            }
        }
    }

    fn finish(&self, cv: Canvas, noise_seed: u64) -> Sample {
        let l = &self.world.light;
        let seed = (noise_seed ^ (noise_seed >> 32)) as u32;
        let amp = l.noise * 2.0 * 255.0;
        let gain = l.exposure * 255.0;
        let mut rgb = Vec::with_capacity(cv.rgb.len() * 3);
        for (i, px) in cv.rgb.iter().enumerate() {
            let h = hash2(i as i32, 0x5EED, seed);
            let lum = (((h >> 20) & 0xfff) as f32 / 4095.0 - 0.5) * amp;
            for (k, &v) in px.iter().enumerate() {
                let chroma = (((h >> (k * 6)) & 0x3f) as f32 / 63.0 - 0.5) * 0.4 * amp;
                rgb.push((v * gain + lum + chroma + 0.5).clamp(0.0, 255.0) as u8);
            }
        }
        Sample {
            width: cv.width as u32,
            height: cv.height as u32,
            rgb,
            labels: cv.labels,
            disparity: cv.disparity,
        }
    }
}

/// Pixel index range whose centres lie in `lo..hi` (image coordinates), clipped.
fn clip_range(lo: f32, hi: f32, n: usize) -> (usize, usize) {
    let a = (lo - 0.5).ceil().clamp(0.0, n as f32) as usize;
    let b = (hi - 0.5).ceil().clamp(0.0, n as f32) as usize;
    (a, b)
}

fn sq(x: f32) -> f32 {
    x * x
}

/// Squared distance from (px, py) to the segment (ax, ay)-(bx, by).
fn seg_dist2(px: f32, py: f32, ax: f32, ay: f32, bx: f32, by: f32) -> f32 {
    let (dx, dy) = (bx - ax, by - ay);
    let t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    sq(px - ax - t * dx) + sq(py - ay - t * dy)
}

/// Horizontal extent (metres, relative to the anchor) and height of a prop.
fn prop_bounds(k: &PropKind) -> (f32, f32, f32) {
    match k {
        PropKind::Person { height, .. } => (-0.35, 0.35, *height),
        PropKind::Rider { .. } => (-0.4, 0.4, 1.75),
        PropKind::Bicycle { .. } => (-0.9, 0.9, 1.05),
        PropKind::Pole {
            height,
            width,
            arm,
            arm_dir,
            sign,
            light,
            ..
        } => {
            let mut lo = -0.5 * width;
            let mut hi = 0.5 * width;
            let reach = arm + 0.3;
            if *arm > 0.0 {
                if *arm_dir < 0.0 {
                    lo = lo.min(-reach);
                } else {
                    hi = hi.max(reach);
                }
            }
            if sign.is_some() {
                lo = lo.min(-0.55);
                hi = hi.max(0.55);
            }
            if light.is_some() {
                lo = lo.min(-0.2);
                hi = hi.max(0.2);
            }
            let top = sign
                .map_or(0.0, |s| s.1 + 0.55)
                .max(light.map_or(0.0, |l| l.0 + 1.0));
            (lo, hi, height.max(top))
        }
        PropKind::Tree {
            trunk_h, rx, ry, ..
        } => (-1.2 * rx, 1.2 * rx, trunk_h + 2.2 * ry),
        PropKind::VehicleFace(v) => (-0.5 * v.width, 0.5 * v.width, v.height),
    }
}

fn prop_shade(k: &PropKind, u: f32, v: f32, light: &Light) -> Option<(Rgb, u8)> {
    match k {
        PropKind::Person {
            height,
            skin,
            hair,
            top,
            legs,
            coat,
            stride,
            back,
        } => {
            let h = *height;
            let head_r = 0.115 * h / 1.75;
            let head_c = h - head_r;
            if sq(u) + sq(v - head_c) < sq(head_r) {
                let c = if *back || v > head_c + 0.35 * head_r {
                    *hair
                } else {
                    *skin
                };
                return Some((c, PERSON));
            }
            let shoulder = h - 2.0 * head_r - 0.04;
            if v > shoulder && v < h - 2.0 * head_r + 0.02 && u.abs() < 0.05 {
                return Some((*skin, PERSON));
            }
            let hip = 0.52 * h;
            if v > hip - 0.05 && v < shoulder {
                let t = (v - hip) / (shoulder - hip);
                let round = if shoulder - v < 0.06 { 0.04 } else { 0.0 };
                let hw = 0.15 + 0.06 * t - round;
                if u.abs() < hw {
                    return Some((*top, PERSON));
                }
                if u.abs() < hw + 0.075 && v > hip - 0.1 && v < shoulder - 0.02 {
                    return Some((if v < hip - 0.02 { *skin } else { *top }, PERSON));
                }
            }
            if *coat && v > 0.33 * h && v < hip && u.abs() < 0.18 {
                return Some((scale(*top, 0.85), PERSON));
            }
            if v < hip {
                let t = 1.0 - v / hip;
                let cl = 0.08 + stride * t;
                if (u - cl).abs() < 0.07 || (u + cl).abs() < 0.07 {
                    return Some((if v < 0.07 { [0.08, 0.07, 0.07] } else { *legs }, PERSON));
                }
            }
            None
        }
        PropKind::Rider {
            skin,
            top,
            legs,
            bike,
            helmet,
        } => {
            if sq(u) + sq(v - 1.58) < sq(0.115) {
                return Some((helmet.unwrap_or([0.1, 0.08, 0.06]), RIDER));
            }
            if v > 1.46 && v < 1.5 && u.abs() < 0.05 {
                return Some((*skin, RIDER));
            }
            if v > 0.95 && v < 1.47 && u.abs() < 0.16 + 0.05 * (v - 0.95) / 0.5 {
                return Some((*top, RIDER));
            }
            if v > 1.02 && v < 1.42 && u.abs() > 0.18 && u.abs() < 0.26 {
                return Some((if v < 1.08 { *skin } else { *top }, RIDER));
            }
            if v > 0.98 && v < 1.03 && u.abs() < 0.3 {
                return Some(([0.1, 0.1, 0.1], BICYCLE));
            }
            if v > 0.3 && v < 0.97 && (u.abs() - 0.11).abs() < 0.06 {
                return Some((*legs, RIDER));
            }
            if v < 0.68 && u.abs() < 0.035 {
                return Some(([0.06, 0.06, 0.06], BICYCLE));
            }
            if v > 0.3 && v < 0.75 && u.abs() < 0.06 {
                return Some((*bike, BICYCLE));
            }
            None
        }
        PropKind::Bicycle { color, dir } => {
            let u = u * dir;
            let r = 0.34;
            for wx in [-0.52, 0.52] {
                let d2 = sq(u - wx) + sq(v - r);
                if d2 < sq(r) && d2 > sq(r - 0.05) {
                    return Some(([0.06, 0.06, 0.06], BICYCLE));
                }
                if d2 < sq(0.04) {
                    return Some(([0.5, 0.5, 0.5], BICYCLE));
                }
            }
            let t2 = sq(0.03);
            let frame = [
                (-0.52, r, 0.0, 0.3),
                (0.0, 0.3, -0.15, 0.8),
                (-0.52, r, -0.15, 0.8),
                (-0.15, 0.8, 0.42, 0.82),
                (0.0, 0.3, 0.42, 0.82),
                (0.42, 0.82, 0.52, r),
                (0.42, 0.82, 0.45, 0.95),
            ];
            if frame
                .iter()
                .any(|&(ax, ay, bx, by)| seg_dist2(u, v, ax, ay, bx, by) < t2)
            {
                return Some((*color, BICYCLE));
            }
            if (v - 0.85).abs() < 0.03 && (u + 0.17).abs() < 0.11
                || (v - 0.95).abs() < 0.025 && (u - 0.42).abs() < 0.08
            {
                return Some(([0.08, 0.08, 0.08], BICYCLE));
            }
            None
        }
        PropKind::Pole {
            height,
            width,
            color,
            arm,
            arm_dir,
            sign,
            light: tl,
            hanging_light,
        } => {
            if let Some((shape, hs, face, mark)) = sign
                && let Some(c) = sign_shade(*shape, u, v - hs, *face, *mark)
            {
                return Some((c, TRAFFIC_SIGN));
            }
            if let Some((hl, housing, on)) = tl
                && let Some(c) = light_shade(u, v - hl, *housing, *on)
            {
                return Some((c, TRAFFIC_LIGHT));
            }
            let a = u * arm_dir;
            if let Some((housing, on)) = hanging_light
                && let Some(c) = light_shade(a - (arm - 0.25), v - (height - 1.1), *housing, *on)
            {
                return Some((c, TRAFFIC_LIGHT));
            }
            if *arm > 0.0 && a > 0.0 && a < *arm && v > height - 0.1 && v < *height {
                return Some((*color, POLE));
            }
            if *arm > 0.0
                && hanging_light.is_none()
                && a > arm - 0.6
                && a < *arm
                && v > height - 0.22
                && v < *height
            {
                let glow = if light.lit_windows > 0.0 {
                    [1.5, 1.4, 1.1]
                } else {
                    [0.75, 0.75, 0.72]
                };
                return Some((if v < height - 0.12 { glow } else { *color }, POLE));
            }
            let hw = 0.5 * width;
            if u.abs() < hw && v < *height {
                // Rounded shaft: brighter in the middle.
                let k = 0.75 + 0.35 * (1.0 - sq(u / hw));
                return Some((scale(*color, k), POLE));
            }
            None
        }
        PropKind::Tree {
            trunk_h,
            trunk_w,
            rx,
            ry,
            leaf,
            bark,
            seed,
        } => {
            let cy = trunk_h + 0.95 * ry;
            let dx = u / rx;
            let dy = (v - cy) / ry;
            let r2 = dx * dx + dy * dy;
            if r2 < 1.2 && r2 < 0.7 + 0.5 * value(u * 1.6 + 17.0, v * 1.6, *seed) {
                if r2 > 0.25 && value(u * 4.0, v * 4.0, *seed ^ 1) > 0.8 {
                    return None;
                }
                let k = (0.55 + 0.6 * value(u * 3.3, v * 3.3, *seed ^ 2)) * (1.0 - 0.2 * dy);
                return Some((scale(*leaf, k), VEGETATION));
            }
            let tw = 0.5 * trunk_w * (1.0 + 0.4 * (1.0 - v / trunk_h).max(0.0));
            if u.abs() < tw && v < cy {
                return Some((
                    scale(*bark, 0.8 + 0.4 * value(u * 8.0, v * 2.0, *seed)),
                    VEGETATION,
                ));
            }
            None
        }
        PropKind::VehicleFace(veh) => vehicle_face(veh, u, v, light),
    }
}

fn sign_shade(shape: SignShape, u: f32, v: f32, face: Rgb, mark: Rgb) -> Option<Rgb> {
    match shape {
        SignShape::Round => {
            let d2 = sq(u) + sq(v);
            if d2 > sq(0.3) {
                return None;
            }
            // A red ring round a white disc, or a blue disc with a white arrow.
            if face[0] > face[2] {
                Some(if d2 > sq(0.22) { face } else { mark })
            } else {
                Some(
                    if u.abs() < 0.05 && v.abs() < 0.18
                        || (v > 0.08 && v < 0.18 && u.abs() < 0.2 - (v - 0.08))
                    {
                        mark
                    } else {
                        face
                    },
                )
            }
        }
        SignShape::Triangle => {
            let t = v + 0.3;
            if !(0.0..0.6).contains(&t) {
                return None;
            }
            let hw = 0.35 * (1.0 - t / 0.6);
            if u.abs() > hw {
                return None;
            }
            Some(if u.abs() > hw - 0.07 || t < 0.06 {
                face
            } else {
                mark
            })
        }
        SignShape::Square => (u.abs() < 0.3 && v.abs() < 0.3).then(|| {
            if u.abs() > 0.26 || v.abs() > 0.26 || (u.abs() < 0.08 && v.abs() < 0.16) {
                mark
            } else {
                face
            }
        }),
        SignShape::Wide => (u.abs() < 0.5 && v.abs() < 0.25).then(|| {
            let line = floor_i(v * 10.0);
            // A border and lines of "text" in the mark colour.
            let border = u.abs() > 0.46 || v.abs() > 0.21;
            let text = line % 2 == 0 && u.abs() < 0.35 && hashf(floor_i(u * 12.0), line, 3) > 0.3;
            if border || text { mark } else { face }
        }),
        SignShape::Diamond => {
            let d = u.abs() + v.abs();
            (d < 0.35).then_some(if d > 0.27 { mark } else { face })
        }
        SignShape::Back => (u.abs() < 0.3 && v.abs() < 0.3).then_some(face),
    }
}

/// Housing 0.32 x 0.9 m with three lamps, red at the top; `on` picks the lit one.
fn light_shade(u: f32, v: f32, housing: Rgb, on: u32) -> Option<Rgb> {
    if u.abs() > 0.16 || !(0.0..0.9).contains(&v) {
        return None;
    }
    const LAMPS: [Rgb; 3] = [[1.6, 0.15, 0.1], [1.6, 1.0, 0.1], [0.2, 1.5, 0.6]];
    for (i, lamp) in LAMPS.iter().enumerate() {
        let cy = 0.75 - 0.3 * i as f32;
        if sq(u) + sq(v - cy) < sq(0.1) {
            let lit = on as usize == i;
            return Some(if lit { *lamp } else { scale(*lamp, 0.12) });
        }
    }
    Some(housing)
}

fn vehicle_label(v: &Vehicle) -> u8 {
    match v.kind {
        VehicleKind::Car => CAR,
        VehicleKind::Truck => TRUCK,
        VehicleKind::Bus => BUS,
    }
}

const TYRE: Rgb = [0.05, 0.05, 0.055];
const GLASS: Rgb = [0.07, 0.08, 0.1];

fn vehicle_face(veh: &Vehicle, u: f32, v: f32, light: &Light) -> Option<(Rgb, u8)> {
    let label = vehicle_label(veh);
    let hw = 0.5 * veh.width;
    let au = u.abs();
    let h = veh.height;
    let lamp: Rgb = if veh.rear {
        [0.75, 0.05, 0.04]
    } else {
        [1.1, 1.1, 1.0]
    };
    let plate: Rgb = if hashf(0, 0, veh.seed) < 0.8 {
        [0.9, 0.9, 0.88]
    } else {
        [0.85, 0.72, 0.1]
    };
    let c = match veh.kind {
        VehicleKind::Car => {
            let belt = h * if h > 1.7 { 0.5 } else { 0.56 };
            if v < 0.34 && au > hw - 0.3 && au < hw - 0.03 {
                TYRE
            } else if v < 0.2 {
                return None;
            } else if v < belt {
                if au > hw - 0.02 * (1.0 + (0.3 - v).max(0.0) * 20.0) {
                    return None;
                }
                if v < 0.36 {
                    if hashf(1, 0, veh.seed) < 0.5 {
                        [0.1, 0.1, 0.1]
                    } else {
                        scale(veh.body, 0.8)
                    }
                } else if au < 0.26 && v > 0.4 && v < 0.51 {
                    plate
                } else if v > belt - 0.22 && v < belt - 0.06 && au > hw - 0.38 {
                    lamp
                } else if !veh.rear && au < 0.5 * hw && v > 0.42 && v < belt - 0.08 {
                    [0.08, 0.08, 0.09]
                } else {
                    veh.body
                }
            } else {
                let t = (v - belt) / (h - belt);
                let hwc = hw * (0.93 - 0.22 * t) - 0.15 * sq(t * t);
                if au > hwc {
                    return None;
                }
                if au < hwc - 0.1 && v > belt + 0.06 && v < h - 0.07 {
                    mix(GLASS, light.sky_horizon, 0.25 * t)
                } else {
                    veh.body
                }
            }
        }
        VehicleKind::Truck => {
            if v < 0.55 && au > hw - 0.4 && au < hw - 0.05 {
                TYRE
            } else if v < 0.45 {
                return None;
            } else if v < 0.7 {
                if v < 0.66 && au > hw - 0.3 {
                    lamp
                } else {
                    [0.1, 0.1, 0.1]
                }
            } else if veh.rear {
                if au < 0.02 || au > hw - 0.03 {
                    scale(veh.cargo, 0.6)
                } else {
                    veh.cargo
                }
            } else {
                let cab = h.min(2.9);
                if v > cab {
                    veh.cargo
                } else if v > 1.7 && v < cab - 0.12 && au < hw - 0.12 {
                    mix(GLASS, light.sky_horizon, 0.2)
                } else if v > 0.8 && v < 1.3 && au < hw * 0.6 {
                    [0.08, 0.08, 0.08]
                } else if v > 0.8 && v < 1.0 && au > hw - 0.35 {
                    lamp
                } else {
                    veh.body
                }
            }
        }
        VehicleKind::Bus => {
            if v < 0.55 && au > hw - 0.4 && au < hw - 0.05 {
                TYRE
            } else if v < 0.3 {
                return None;
            } else if v < 0.55 {
                [0.12, 0.12, 0.12]
            } else if veh.rear {
                if v > h - 1.4 && v < h - 0.4 && au < hw - 0.25 {
                    mix(GLASS, light.sky_horizon, 0.15)
                } else if v > 0.7 && v < 1.0 && au > hw - 0.3 {
                    lamp
                } else {
                    veh.body
                }
            } else if v > 1.0 && v < h - 0.45 && au < hw - 0.1 {
                mix(GLASS, light.sky_horizon, 0.3 * (v - 1.0) / (h - 1.45))
            } else if v > h - 0.4 && v < h - 0.1 && au < hw - 0.3 {
                [0.1, 0.08, 0.05]
            } else if v > 0.6 && v < 0.8 && au > hw - 0.35 {
                lamp
            } else {
                veh.body
            }
        }
    };
    Some((c, label))
}

/// Side of a vehicle; `u` runs along the street from the face nearest the camera.
fn vehicle_side(veh: &Vehicle, u: f32, v: f32) -> Option<(Rgb, u8)> {
    let label = vehicle_label(veh);
    let l = veh.length;
    // Distance from the rear of the vehicle.
    let a = if veh.rear { u } else { l - u };
    if !(0.0..=l).contains(&a) {
        return None;
    }
    let h = veh.height;
    let wheel = |axles: &[f32], r: f32| -> Option<Rgb> {
        axles.iter().find_map(|&ax| {
            let d2 = sq(a - ax) + sq(v - r);
            (d2 < sq(r)).then(|| {
                if d2 < sq(0.55 * r) {
                    [0.45, 0.45, 0.46]
                } else {
                    TYRE
                }
            })
        })
    };
    let c = match veh.kind {
        VehicleKind::Car => {
            if let Some(c) = wheel(&[0.8, l - 0.85], 0.32) {
                c
            } else if v < 0.22 {
                return None;
            } else {
                let belt = h * if h > 1.7 { 0.5 } else { 0.56 };
                if v < belt {
                    let nose = if a > l - 0.5 {
                        (a - (l - 0.5)) * 0.5
                    } else {
                        0.0
                    };
                    if v > belt - nose {
                        return None;
                    }
                    if (v - belt + 0.08).abs() < 0.02 {
                        scale(veh.body, 0.75)
                    } else {
                        veh.body
                    }
                } else {
                    let t = (v - belt) / (h - belt);
                    let van = h > 1.7;
                    let a0 = if van { 0.05 } else { 0.45 + 0.4 * t };
                    let a1 = l - if van { 0.9 + 0.5 * t } else { 1.3 + 0.9 * t };
                    if a < a0 || a > a1 {
                        return None;
                    }
                    let mid = 0.5 * (a0 + a1);
                    if v < h - 0.07 && a > a0 + 0.08 && a < a1 - 0.06 && (a - mid).abs() > 0.05 {
                        GLASS
                    } else {
                        veh.body
                    }
                }
            }
        }
        VehicleKind::Truck => {
            if let Some(c) = wheel(&[1.2, 2.3, l - 1.2], 0.5) {
                c
            } else if v < 0.45 {
                return None;
            } else if a > l - 2.3 {
                if v > h.min(2.9) {
                    return None;
                }
                if v > 1.7 && v < 2.7 && a > l - 1.2 && a < l - 0.1 {
                    GLASS
                } else {
                    veh.body
                }
            } else if a > l - 2.45 {
                return None;
            } else if v < 0.9 {
                [0.1, 0.1, 0.1]
            } else {
                veh.cargo
            }
        }
        VehicleKind::Bus => {
            if let Some(c) = wheel(&[2.6, l - 2.6], 0.5) {
                c
            } else if v < 0.3 {
                return None;
            } else if v > 1.15 && v < h - 0.45 && fract(a / 1.4) > 0.07 {
                GLASS
            } else {
                veh.body
            }
        }
    };
    Some((c, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `seed` with all layers, without props and vehicles, and with the
    /// ground alone.
    fn layers(seed: u64) -> [Sample; 3] {
        let world = World::new(seed);
        let full = View::new(&world, 256, 128, 0.0, 0.0);
        let mut panels = View::new(&world, 256, 128, 0.0, 0.0);
        panels.props.clear();
        panels.vehicles.clear();
        let mut ground = View::new(&world, 256, 128, 0.0, 0.0);
        ground.props.clear();
        ground.vehicles.clear();
        ground.panels.clear();
        [full.render(seed), panels.render(seed), ground.render(seed)]
    }

    #[test]
    fn objects_are_nearer_than_what_they_hide() {
        for seed in 0..8 {
            let [full, panels, ground] = layers(seed);
            for (front, back, what) in [(&full, &panels, "objects"), (&panels, &ground, "panels")] {
                let mut changed = 0;
                for i in 0..front.labels.len() {
                    if front.labels[i] != back.labels[i] {
                        changed += 1;
                        assert!(
                            front.disparity[i] >= back.disparity[i],
                            "seed {seed} pixel {i}: {what} label {} at {} hides label {} at {}",
                            front.labels[i],
                            front.disparity[i],
                            back.labels[i],
                            back.disparity[i]
                        );
                    }
                }
                assert!(changed > 0, "seed {seed}: {what} cover nothing");
            }
        }
    }
}
