// The web page's script, served as /static/app.js: the page's Content-Security-Policy allows no inline script.
// It enrols VIPs (POST /v1/vips/{name}), lists and removes them (GET / DELETE), and checks an image or a video
// (POST /v1/check). Text from the server is always set as text, never parsed as HTML.
"use strict";
const COLOURS = {genuine: "#1b873f", fake: "#c62828", different_person: "#ef6c00", no_face: "#616161",
                 error: "#616161"};
const OTHER_FACE = "#5c6bc0";
const CANVAS_WIDTH = 420;
const $ = (id) => document.getElementById(id);
const words = (s) => String(s).replace(/_/g, " ");
const fixed = (x, n) => (x === null || x === undefined ? "–" : Number(x).toFixed(n));

function headers() { return {"Authorization": "Bearer " + $("key").value.trim()}; }
function say(id, text) { $(id).textContent = text || ""; }
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

async function errorText(resp) {
  try { const body = await resp.json(); return resp.status + ": " + (body.detail || resp.statusText); }
  catch (e) { return resp.status + ": " + resp.statusText; }
}

// one request; resolves to {ok, body} or {ok: false, error} (network errors included)
async function call(url, options) {
  let resp;
  try { resp = await fetch(url, Object.assign({headers: headers()}, options)); }
  catch (e) { return {ok: false, error: "network error: " + e}; }
  if (!resp.ok) return {ok: false, error: await errorText(resp)};
  return {ok: true, body: await resp.json()};
}

// ---- enrolled VIPs ----------------------------------------------------------------------------------------
const VIP_PAGE = 100;  // VIPs asked for at a time (GET /v1/vips?offset=&limit=); "Show more" asks for the next ones

async function loadVips() { await listVips(false); }

// the first page (more false: the list is rebuilt) or the next one (appended)
async function listVips(more) {
  say("vips-status", "");
  const list = $("vips"), select = $("vip"), chosen = select.value;
  const offset = more ? list.children.length : 0;
  const got = await call("/v1/vips?offset=" + offset + "&limit=" + VIP_PAGE);
  if (!got.ok) { say("vips-status", got.error); return; }
  const vips = got.body.vips, total = got.body.total;
  if (!more) {
    while (select.options.length > 1) select.remove(1);
    clear(list);
  }
  for (const v of vips) {
    const opt = el("option", words(v.name));
    opt.value = v.name;
    select.appendChild(opt);
    const item = el("li");
    item.dataset.name = v.name;
    const who = el("span", words(v.name), "who");
    const meta = el("span", v.photos_used + " photos · " + (v.enrolled || ""), "muted");
    const remove = el("button", "Remove", "remove");
    remove.type = "button";
    remove.addEventListener("click", () => removeVip(v.name, remove));
    item.append(who, meta, remove);
    list.appendChild(item);
  }
  if (vips.some((v) => v.name === chosen)) select.value = chosen;
  const shown = list.children.length;
  moreButton().hidden = shown >= total;
  say("vips-status", !total ? "No VIP is enrolled yet." :
      shown < total ? shown + " of " + total + " VIPs listed (a check without a VIP picks among all)." : "");
  list.dataset.loaded = "true";  // the list reflects the server (tests wait for this)
}

function moreButton() {
  let button = $("vips-more");
  if (!button) {
    button = el("button", "Show more", "more");
    button.type = "button";
    button.id = "vips-more";
    button.addEventListener("click", () => listVips(true));
    $("vips").after(button);
  }
  return button;
}

// the first click arms the button, a second one within 4 s removes (no modal dialog)
async function removeVip(name, button) {
  if (!button.classList.contains("armed")) {
    button.classList.add("armed");
    button.textContent = "Remove " + words(name) + "?";
    setTimeout(() => { button.classList.remove("armed"); button.textContent = "Remove"; }, 4000);
    return;
  }
  const got = await call("/v1/vips/" + encodeURIComponent(name), {method: "DELETE"});
  if (!got.ok) { say("vips-status", got.error); return; }
  await loadVips();
  say("vips-status", "Removed " + words(name) + ".");
}

// ---- enrolment --------------------------------------------------------------------------------------------
function operatingPoint(body) {
  const p = body.operating_point;
  if (!p) return "";
  const floor = Math.round(100 * p.similarity_floor);
  const accept = Math.round(100 * p.expected_genuine_accept);
  let text = "Operating point: face similarity ≥ " + floor + "/100 expected for " + accept + " % of " +
             words(body.name) + "'s genuine photos";
  if (p.identity_threshold !== undefined) text += "; other people reach " + Math.round(100 * p.identity_threshold) + "/100";
  return text + ".";
}

function showEnrolment(body) {
  say("enrol-summary", "Enrolled " + words(body.name) + ": " + body.used + " photo(s) used, " + body.rejected +
      " rejected; trained against " + body.fakes + " forgeries and " + body.others + " other people in " +
      fixed(body.seconds, 1) + " s.");
  say("enrol-point", operatingPoint(body));
  const rows = $("enrol-photos-table").tBodies[0];
  clear(rows);
  for (const photo of body.photos) {
    const row = rows.insertRow();
    row.className = photo.used ? "used" : "rejected";
    row.insertCell().textContent = photo.filename;
    row.insertCell().textContent = photo.used ? "yes" : "no";
    row.insertCell().textContent = photo.reasons.join("; ");
  }
  $("enrol-result").hidden = false;
}

async function enrol(event) {
  event.preventDefault();
  const name = $("enrol-name").value.trim(), files = $("enrol-photos").files;
  $("enrol-result").hidden = true;
  if (!name || !files.length) { say("enrol-status", "Give a name and at least one photo."); return; }
  const form = new FormData();
  for (const f of files) form.append("photos", f);
  say("enrol-status", "Enrolling " + words(name) + " from " + files.length + " photo(s) … (about 3 s a photo)");
  $("enrol").disabled = true;
  const got = await call("/v1/vips/" + encodeURIComponent(name), {method: "POST", body: form});
  $("enrol").disabled = false;
  if (!got.ok) { say("enrol-status", got.error); return; }
  say("enrol-status", "");
  showEnrolment(got.body);
  await loadVips();
  $("vip").value = got.body.name;
}

// ---- checks -----------------------------------------------------------------------------------------------
function clearResult() {
  $("result").classList.remove("shown");
  for (const id of ["name", "verdict", "vipname", "score", "sim", "why", "decided-by"]) say(id, "");
  $("decided").hidden = true;
  $("verdict").className = "verdict";
  clear($("faces"));
  $("faces-box").hidden = true;
  clear($("clip"));
  const video = $("video");
  video.onloadeddata = video.onseeked = video.onerror = null;
  video.removeAttribute("src");
  $("canvas").hidden = false;
  const canvas = $("canvas");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

// every face: the judged one in the verdict's colour, the others numbered in blue
function drawFaces(source, width, height, result, colour) {
  const canvas = $("canvas"), ctx = canvas.getContext("2d");
  const scale = Math.min(1, CANVAS_WIDTH / width);
  canvas.width = Math.round(width * scale); canvas.height = Math.round(height * scale);
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  const box = (b, c, w, label) => {
    if (!b) return;
    ctx.strokeStyle = c; ctx.lineWidth = w;
    ctx.strokeRect(b[0] * scale, b[1] * scale, (b[2] - b[0]) * scale, (b[3] - b[1]) * scale);
    ctx.fillStyle = c; ctx.font = "bold 14px system-ui, sans-serif";
    ctx.fillText(label, b[0] * scale + 3, Math.max(14, b[1] * scale - 4));
  };
  (result.other_faces || []).forEach((f, i) => box(f.box, OTHER_FACE, 2, String(i + 2)));
  box(result.box, colour, 3, "1");
}

function showFaces(result) {
  const others = result.other_faces || [];
  if (!result.box && !others.length) return;
  const list = $("faces");
  const judged = el("li", "judged: face similarity " + result.face_similarity + "/100" +
                    (result.vip ? " to " + words(result.vip) : ""), "judged");
  list.appendChild(judged);
  for (const f of others) list.appendChild(el("li", "face similarity " + f.face_similarity + "/100"));
  if (result.faces_not_judged) list.appendChild(el("li", result.faces_not_judged + " more face(s) not judged", "muted"));
  $("faces-box").hidden = false;
}

function show(result, file) {
  const colour = COLOURS[result.verdict] || "#616161";
  say("name", file.name);
  say("verdict", words(result.verdict));
  $("verdict").className = "verdict v-" + result.verdict;
  say("vipname", result.vip || "none");
  say("score", fixed(result.score, 3));
  say("sim", result.face_similarity);
  say("why", result.explanation);
  say("decided-by", result.decided_by || "");
  $("decided").hidden = !result.decided_by;
  showFaces(result);
  $("result").classList.add("shown");
  const url = URL.createObjectURL(file);
  if (result.frames) { showClip(result, url, colour); return; }
  const img = new Image();
  img.onload = () => {
    const [w, h] = result.image_size || [img.naturalWidth, img.naturalHeight];
    drawFaces(img, w, h, result, colour);
  };
  img.src = url;
}

function showClip(result, url, colour) {
  const clip = $("clip");
  if (result.timeline_png) {
    const img = el("img");
    img.id = "timeline"; img.alt = "score per frame";
    img.src = "data:image/png;base64," + result.timeline_png;
    clip.appendChild(img);
  }
  const thumbs = result.thumbnails || [];
  if (thumbs.length) {
    const strip = el("div", null, "thumbs");
    for (const t of thumbs) {
      const fig = el("figure", null, t.role === "worst" ? "worst" : "");
      const img = el("img");
      img.alt = "frame at " + fixed(t.t, 1) + " s"; img.src = "data:image/jpeg;base64," + t.jpeg;
      fig.append(img, el("figcaption", fixed(t.t, 1) + " s · " + words(t.verdict) + " · " + fixed(t.score, 2) +
                              (t.role === "worst" ? " (lowest)" : t.role === "typical" ? " (typical)" : "")));
      strip.appendChild(fig);
    }
    clip.appendChild(strip);
  }
  const worst = new Set(result.worst_frames || []);
  const table = el("table");
  const head = table.insertRow();
  for (const t of ["t (s)", "verdict", "score"]) head.appendChild(el("th", t));
  for (const f of result.frames) {
    const row = table.insertRow();
    if (worst.has(f.frame)) row.className = "worst";
    row.insertCell().textContent = fixed(f.t, 1);
    row.insertCell().textContent = words(f.verdict);
    row.insertCell().textContent = fixed(f.score, 3);
  }
  clip.appendChild(table);
  // the typical frame on the canvas, decoded by the browser when it can (many cannot decode mp4v)
  const video = $("video");
  const typical = result.frames.find((f) => JSON.stringify(f.box) === JSON.stringify(result.box)) || result.frames[0];
  video.onloadeddata = () => { video.currentTime = typical ? typical.t : 0; };
  video.onseeked = () => drawFaces(video, video.videoWidth, video.videoHeight, result, colour);
  video.onerror = () => {  // show the server's rendering of the typical frame instead
    const still = thumbs.find((t) => t.role === "typical") || thumbs[0];
    clip.prepend(el("p", still ? "This browser cannot decode the video; its frames here were rendered by the " +
                    "server." : "This browser cannot decode the video.", "muted"));
    if (!still) { $("canvas").hidden = true; return; }
    const img = new Image();
    img.onload = () => {
      const canvas = $("canvas");
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      canvas.getContext("2d").drawImage(img, 0, 0);
    };
    img.src = "data:image/jpeg;base64," + still.jpeg;
  };
  video.src = url;
}

async function check(file) {
  if (!file) return;
  clearResult();
  say("status", "Checking " + file.name + " …");
  const form = new FormData();
  form.append("file", file);
  if ($("vip").value) form.append("vip", $("vip").value);
  const got = await call("/v1/check", {method: "POST", body: form});
  if (!got.ok) { say("status", file.name + ": " + got.error); return; }
  say("status", "");
  show(got.body, file);
}

// a key may be handed over in the URL fragment (#key=...), which browsers never send to the server
const fragmentKey = new URLSearchParams(location.hash.slice(1)).get("key");
if (fragmentKey) {
  $("key").value = fragmentKey;
  history.replaceState(null, "", location.pathname);
  loadVips();
}
$("load").addEventListener("click", loadVips);
$("key").addEventListener("change", loadVips);
$("enrol-form").addEventListener("submit", enrol);
const drop = $("drop");
drop.addEventListener("click", () => $("file").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
$("file").addEventListener("change", (e) => { check(e.target.files[0]); e.target.value = ""; });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); check(e.dataTransfer.files[0]); });
