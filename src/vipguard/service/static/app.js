// The web page's script, served as /static/app.js: the page's Content-Security-Policy allows no inline script.
"use strict";
const COLOURS = {genuine: "#1b873f", fake: "#c62828", different_person: "#ef6c00", no_face: "#616161",
                 error: "#616161"};
const $ = (id) => document.getElementById(id);
function headers() { return {"Authorization": "Bearer " + $("key").value.trim()}; }
function say(text) { $("status").textContent = text || ""; }

async function errorText(resp) {
  try { const body = await resp.json(); return resp.status + ": " + (body.detail || resp.statusText); }
  catch (e) { return resp.status + ": " + resp.statusText; }
}

async function loadVips() {
  say("");
  const resp = await fetch("/v1/vips", {headers: headers()});
  if (!resp.ok) { say(await errorText(resp)); return; }
  const body = await resp.json();
  const select = $("vip");
  while (select.options.length > 1) select.remove(1);
  for (const v of body.vips) {
    const opt = document.createElement("option");
    opt.value = v.name; opt.textContent = v.name.replace(/_/g, " ");
    select.appendChild(opt);
  }
  say(body.vips.length ? "" : "No VIP is enrolled yet.");
}

function drawBox(ctx, box, scale, colour) {
  if (!box) return;
  ctx.strokeStyle = colour; ctx.lineWidth = 3;
  ctx.strokeRect(box[0] * scale, box[1] * scale, (box[2] - box[0]) * scale, (box[3] - box[1]) * scale);
}

function drawSource(source, width, height, box, colour) {
  const canvas = $("canvas"), ctx = canvas.getContext("2d");
  const scale = Math.min(1, 420 / width);
  canvas.width = Math.round(width * scale); canvas.height = Math.round(height * scale);
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  drawBox(ctx, box, scale, colour);
}

function show(result, file) {
  const colour = COLOURS[result.verdict] || "#616161";
  $("name").textContent = file.name;
  $("verdict").textContent = result.verdict.replace(/_/g, " ");
  $("verdict").style.background = colour;
  $("vipname").textContent = result.vip || "none";
  $("score").textContent = result.score === null ? "–" : result.score.toFixed(3);
  $("sim").textContent = result.face_similarity;
  $("why").textContent = result.explanation;
  $("clip").textContent = "";
  $("result").classList.add("shown");
  const url = URL.createObjectURL(file);
  if (result.frames) {
    showClip(result);
    const video = $("video");
    const typical = result.frames.find((f) => JSON.stringify(f.box) === JSON.stringify(result.box)) || result.frames[0];
    video.onloadeddata = () => { video.currentTime = typical ? typical.t : 0; };
    video.onseeked = () => drawSource(video, video.videoWidth, video.videoHeight, result.box, colour);
    video.src = url;
  } else {
    const img = new Image();
    img.onload = () => {
      const [w, h] = result.image_size || [img.naturalWidth, img.naturalHeight];
      drawSource(img, w, h, result.box, colour);
    };
    img.src = url;
  }
}

function showClip(result) {
  const clip = $("clip");
  if (result.timeline_png) {
    const img = document.createElement("img");
    img.id = "timeline"; img.alt = "score per frame";
    img.src = "data:image/png;base64," + result.timeline_png;
    clip.appendChild(img);
  }
  const table = document.createElement("table");
  const head = table.insertRow(); ["t (s)", "verdict", "score"].forEach((t) => {
    const th = document.createElement("th"); th.textContent = t; head.appendChild(th); });
  for (const f of result.frames) {
    const row = table.insertRow();
    row.insertCell().textContent = f.t.toFixed(1);
    row.insertCell().textContent = f.verdict.replace(/_/g, " ");
    row.insertCell().textContent = f.score === null ? "–" : f.score.toFixed(3);
  }
  clip.appendChild(table);
}

async function check(file) {
  if (!file) return;
  say("Checking " + file.name + " …");
  const form = new FormData();
  form.append("file", file);
  if ($("vip").value) form.append("vip", $("vip").value);
  let resp;
  try { resp = await fetch("/v1/check", {method: "POST", headers: headers(), body: form}); }
  catch (e) { say("network error: " + e); return; }
  if (!resp.ok) { say(await errorText(resp)); return; }
  say("");
  show(await resp.json(), file);
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
const drop = $("drop");
drop.addEventListener("click", () => $("file").click());
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
$("file").addEventListener("change", (e) => check(e.target.files[0]));
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); check(e.dataTransfer.files[0]); });
