// camo's local page: the Cloak tab and the Attack lab, over the JSON API of this same server (see /docs).
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path, options) {
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `the server answered ${response.status}`);
  return data;
}

// -- tabs ------------------------------------------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((button) => {
  button.addEventListener("click", () => {
    document.querySelectorAll("nav button").forEach((b) => b.setAttribute("aria-selected", String(b === button)));
    document.querySelectorAll(".panel").forEach((p) => { p.hidden = p.id !== button.dataset.panel; });
  });
});

let OPTIONS = null;

// -- cloak -----------------------------------------------------------------------------------------------------------
let chosen = [];

function choose(files) {
  chosen = Array.from(files);
  $("chosen").textContent = chosen.length ? `${chosen.length} photo(s): ${chosen.map((f) => f.name).join(", ")}` : "";
}

$("photos").addEventListener("change", (e) => choose(e.target.files));
const drop = $("drop");
["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
drop.addEventListener("drop", (e) => { e.preventDefault(); choose(e.dataTransfer.files); });

function presetNote() {
  if (!OPTIONS) return;
  const p = OPTIONS.presets[$("preset").value][$("mode").value];
  $("preset-note").textContent = `ε = ${p.eps_255}/255 (no pixel changes by more than ${p.eps_255} grey levels), ` +
    `${p.steps} steps` + (p.min_ssim ? `, held back to keep the face's SSIM near ${p.min_ssim} (look first)` : "") +
    (p.photo_ssim ? ` and, where the face fills the picture, the whole picture's near ${p.photo_ssim}` : "") +
    (p.features ? ", also changing what the recognizers see at their middle layers" : "") +
    (p.dropout || Object.keys(p.member_dropout || {}).length ? ", made on randomly thinned copies of the recognizers so it fits them less exactly" : "") +
    ". Each saved file is checked by the recognizer itself" +
    (p.margin ? `; with "ensure", a photo whose recognizers are not yet ${p.margin} × their match distance away is ` +
      "cloaked again, stronger" : "") + ".";
}
$("preset").addEventListener("change", presetNote);
$("mode").addEventListener("change", presetNote);

$("cloak-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("cloak-error").textContent = "";
  if (!chosen.length) { $("cloak-error").textContent = "Choose one or more photos first."; return; }
  const form = new FormData();
  chosen.forEach((f) => form.append("photos", f, f.name));
  form.append("preset", $("preset").value);
  form.append("mode", $("mode").value);
  form.append("ensure", $("ensure").checked ? "true" : "false");
  $("cloak-go").disabled = true;
  $("job").hidden = false;
  $("job-links").hidden = true;
  $("photos-out").replaceChildren();
  $("bar").style.width = "0%";
  $("job-status").textContent = "Uploading…";
  let job;
  try {
    job = await api("/api/cloak/jobs", { method: "POST", body: form });
  } catch (err) {
    $("cloak-error").textContent = err.message;
    $("job-status").textContent = "";
    $("cloak-go").disabled = false;
    return;
  }
  follow(job);
});

function follow(job) {
  const events = new EventSource(job.events);
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "queued") $("job-status").textContent = `Queued (${event.position} ahead or running)…`;
    else if (event.type === "running") $("job-status").textContent = "Cloaking…";
    else if (event.type === "progress") {
      $("bar").style.width = `${Math.round(event.fraction * 100)}%`;
      $("job-status").textContent = `Photo ${event.photo + 1} of ${event.photos}: step ${event.step} of ${event.steps}`;
    } else if (event.type === "photo") showPhoto(job.id, event.photo);
    else if (event.type === "zip") links(job.id, event.files);
    else if (event.type === "end") {
      events.close();
      $("cloak-go").disabled = false;
      $("bar").style.width = "100%";
      const s = event.summary || {};
      $("job-status").textContent = event.state === "done"
        ? `Done: ${s.protected || 0} of ${s.total || 0} photos protected (checked on the saved files).`
        : `Stopped: ${event.error}`;
      $("job").dataset.state = event.state;
    }
  };
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) $("cloak-error").textContent = "Lost the connection to the server.";
  };
}

function fileUrl(jobId, key, download) {
  return `/api/jobs/${jobId}/files/${key}${download ? "?download=1" : ""}`;
}

function links(jobId, files) {
  if (files.includes("zip")) $("zip-link").href = fileUrl(jobId, "zip", true);
  $("zip-link").hidden = !files.includes("zip");
  if (files.includes("report")) $("report-link").href = fileUrl(jobId, "report", false);
  $("report-link").hidden = !files.includes("report");
  $("job-links").hidden = false;
}

function showPhoto(jobId, photo) {
  // A reconnecting stream replays the job's events from the first: show each photo once.
  if ($("photos-out").querySelector(`article[data-index="${photo.index}"]`)) return;
  const card = el("article", "photo");
  card.dataset.index = photo.index;
  card.append(el("h2", "", photo.name));
  if (photo.status === "error") {
    card.append(el("p", "no", photo.error));
    $("photos-out").append(card);
    return;
  }
  if (photo.status === "no face") {
    card.append(el("p", "no", "No face found: nothing was changed or written."));
    $("photos-out").append(card);
    return;
  }
  const verdicts = el("ul", "verdicts");
  for (const v of photo.recognizers || []) {
    const distance = v.distance === null ? "no face found" :
      `distance ${v.distance.toFixed(2)} ${v.protected ? ">" : "≤"} ${v.threshold}`;
    const item = el("li", v.protected ? "yes verdict" : "no verdict",
      `${v.recognizer}: ${v.protected ? "no longer recognises you" : "still recognises you"} (${distance})`);
    item.dataset.recognizer = v.recognizer;
    verdicts.append(item);
  }
  card.append(verdicts);
  const numbers = [`SSIM ${photo.ssim.toFixed(4)} (face region ${photo.face_ssim.toFixed(4)})`,
    `largest change ${photo.linf_255}/255`, `${photo.seconds} s`];
  if (photo.attempts > 1) numbers.push(`${photo.preset} after ${photo.attempts} tries`);
  card.append(el("p", "caption ssim", numbers.join(" · ")));
  const panes = el("div", "panes");
  const compare = el("div", "compare");
  const after = el("img", "after");
  after.src = fileUrl(jobId, `${photo.index}-after`);
  after.alt = "after (the saved file)";
  const before = el("img", "before");
  before.src = fileUrl(jobId, `${photo.index}-before`);
  before.alt = "before";
  const slider = el("input", "slider");
  slider.type = "range"; slider.min = "0"; slider.max = "100"; slider.value = "50";
  slider.setAttribute("aria-label", "before / after");
  const clip = () => { before.style.clipPath = `inset(0 ${100 - Number(slider.value)}% 0 0)`; };
  slider.addEventListener("input", clip);
  clip();
  compare.append(after, before, slider, el("div", "caption", "← before · after (the saved file) →"));
  const pert = el("figure", "pert");
  const pimg = el("img");
  pimg.src = fileUrl(jobId, `${photo.index}-perturbation`);
  pimg.alt = "perturbation, amplified";
  pert.append(pimg, el("figcaption", "caption",
    `the change × ${photo.gain} (grey = unchanged; ±${photo.linf_255}/255 shown as ±127)`));
  panes.append(compare, pert);
  card.append(panes);
  const download = el("a", "download", `Download ${photo.download}`);
  download.href = fileUrl(jobId, `${photo.index}-cloaked`, true);
  download.download = photo.download;
  card.append(download);
  for (const note of photo.notes || []) card.append(el("p", "note", note));
  $("photos-out").append(card);
}

// -- attack lab ------------------------------------------------------------------------------------------------------
function labImages() {
  const model = $("lab-model").value;
  const select = $("lab-image");
  select.replaceChildren();
  for (const image of OPTIONS.lab.images.filter((i) => i.model === model)) {
    const option = el("option", "", image.name);
    option.value = image.name;
    select.append(option);
  }
  if (model === "mnist") select.value = "digit-7";
  labThumb();
}

function labThumb() { $("lab-thumb").src = `/api/lab/images/${encodeURIComponent($("lab-image").value)}`; }

async function labLabels() {
  const model = $("lab-model").value;
  const data = await api(`/api/lab/labels/${model}`);
  $("lab-labels").replaceChildren(...data.labels.map((name) => { const o = el("option"); o.value = name; return o; }));
}

$("lab-model").addEventListener("change", () => {
  $("lab-eps").value = OPTIONS.lab.default_eps[$("lab-model").value];
  $("lab-target").value = "";
  labImages();
  labLabels().catch((err) => { $("lab-error").textContent = err.message; });
});
$("lab-image").addEventListener("change", labThumb);

function pct(x) { return `${(x * 100).toFixed(1)}%`; }

$("lab-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("lab-error").textContent = "";
  const form = new FormData();
  for (const name of ["model", "method", "eps", "target", "steps"]) form.append(name, $(`lab-${name}`).value);
  const upload = $("lab-upload").files[0];
  if (upload) form.append("upload", upload, upload.name); else form.append("image", $("lab-image").value);
  $("lab-go").disabled = true;
  try {
    const r = await api("/api/lab/attack", { method: "POST", body: form });
    $("lab-orig").textContent = r.original.label; $("lab-orig-c").textContent = pct(r.original.confidence);
    $("lab-adv").textContent = r.adversarial.label; $("lab-adv-c").textContent = pct(r.adversarial.confidence);
    $("lab-saved").textContent = r.saved.label; $("lab-saved-c").textContent = pct(r.saved.confidence);
    const goal = r.target ? `reach “${r.target}”` : `leave “${r.original.label}”`;
    $("lab-verdict").textContent = r.success
      ? `The saved 8-bit file fools ${r.model}: it was made to ${goal} (largest change ${r.linf_255}/255).`
      : r.in_memory_success
        ? `The attack worked in floating point but not on the saved 8-bit file (${goal}; lost by ${r.lost_by}).`
        : `Not fooled: the attack did not ${goal} at this ε.`;
    $("lab-verdict").className = r.success ? "yes" : "no";
    $("lab-figure").src = r.urls.figure;
    $("lab-sweep").src = r.urls.sweep;
    $("lab-adv-link").href = `${r.urls.adversarial}?download=1`;
    $("lab-sweep-caption").textContent = `signed ε sweep along “${r.sweep.label}”: ε < 0 moves towards it, ` +
      `ε > 0 away (${r.sweep.points} points, ±${r.sweep.eps_max_255}/255)`;
    $("lab-out").hidden = false;
  } catch (err) {
    $("lab-error").textContent = err.message;
  } finally {
    $("lab-go").disabled = false;
  }
});

// -- start -----------------------------------------------------------------------------------------------------------
(async () => {
  try {
    OPTIONS = await api("/api/options");
  } catch (err) {
    $("cloak-error").textContent = `Cannot reach the server: ${err.message}`;
    return;
  }
  for (const name of Object.keys(OPTIONS.presets)) {
    const option = el("option", "", name);
    option.value = name;
    $("preset").append(option);
  }
  $("preset").value = OPTIONS.default_preset;
  presetNote();
  for (const method of OPTIONS.lab.methods) {
    const option = el("option", "", method);
    option.value = method;
    $("lab-method").append(option);
  }
  labImages();
  await labLabels();
  document.body.dataset.ready = "true";
})();
