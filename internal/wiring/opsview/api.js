// Reads the JSON of /ops/api/...: the answer, or an Error with the problem+json detail.

export async function get(path, params = {}) {
  const q = new URLSearchParams(params).toString();
  let res;
  try {
    res = await fetch(`/ops/api/${path}${q ? `?${q}` : ""}`, { headers: { Accept: "application/json" } });
  } catch (err) {
    throw new Error(`the process did not answer (${err.message})`);
  }
  const type = res.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await res.json() : { title: await res.text() };
  if (!res.ok) throw new Error(data.detail || data.title || `HTTP ${res.status}`);
  return data;
}
