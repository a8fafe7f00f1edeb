// One file's bytes for the workers (heads weights, prior tables), with a failure that
// names the URL (error code "fetch").

export async function fetchBytes(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw Object.assign(new Error(`could not fetch ${url}: ${err.message}`), { code: "fetch" });
  }
  if (!response.ok) throw Object.assign(new Error(`${url}: HTTP ${response.status}`), { code: "fetch" });
  return new Uint8Array(await response.arrayBuffer());
}
