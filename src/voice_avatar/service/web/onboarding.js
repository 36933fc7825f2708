// The onboarding page: key -> prompt -> record (or upload) -> checks -> [consent] -> create ->
// progress -> speak. Each step's section is revealed when it is reached, so the focus order
// follows the flow; every outcome is also announced in the page's live region.

import { announce, api, explain, forgetKey, saveKey, savedKey } from "./api.js";
import { Recorder, formatSeconds } from "./recorder.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const CHECK_LABELS = {
  speech_duration: ["Speech length", (v) => `${v} s`],
  clipping: ["Distortion (clipping)", (v) => `${(v * 100).toFixed(3)} % of samples`],
  snr: ["Background noise", (v) => `${v} dB above the noise`],
  loudness: ["Loudness", (v) => `${v} LUFS`],
  single_speaker: ["One voice only", (v) => `${v} similarity`],
  prompt_match: ["Follows the text", (v) => `${v} word error rate`],
};
const SCORE_LABELS = {
  similarity: "Similarity to your recording",
  stock_similarity: "Stock voice, for comparison",
  dnsmos: "Naturalness (1 to 5)",
  wer: "Word error rate",
};

const state = { info: null, sample: null, consent: null, phraseId: null, avatarId: null, run: 0, urls: [] };

const recorder = new Recorder({ meter: $("level"), onTick: showElapsed });
const consentRecorder = new Recorder({
  meter: $("consent-level"),
  onTick: (s) => ($("consent-timer").textContent = formatSeconds(s)),
});

function show(id, focus = true) {
  $(id).hidden = false;
  if (focus) $(id).querySelector("h2").focus();
}

function objectUrl(blob) {
  const url = URL.createObjectURL(blob);
  state.urls.push(url);
  return url;
}

async function connect(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) {
    announce("Enter your API key first.", "error");
    $("api-key").focus();
    return;
  }
  saveKey(key);
  try {
    state.info = await api("/v1/onboarding");
  } catch (error) {
    forgetKey();
    announce(explain(error, "start"), "error");
    $("api-key").focus();
    return;
  }
  const { tier, min_speech_seconds: min, prompt_text: prompt } = state.info;
  $("tier-note").textContent =
    `Your plan (${tier}) needs at least ${min} seconds of speech. Read the text at an even pace, ` +
    "in a quiet room, and keep going if you reach the end before the timer does.";
  $("prompt-text").textContent = prompt;
  $("elapsed").max = min;
  showElapsed(0);
  show("step-record");
  announce(`Key accepted. Press Start recording and read the text aloud: at least ${min} seconds.`);
}

function showElapsed(seconds) {
  const min = state.info ? state.info.min_speech_seconds : 10;
  $("elapsed").value = Math.min(seconds, min);
  $("timer").textContent = `${formatSeconds(seconds)} of at least ${formatSeconds(min)}`;
  if (recorder.active && seconds >= min && !state.minimumAnnounced) {
    state.minimumAnnounced = true;
    announce("That is the minimum. Finish the sentence, then press Stop recording.");
  }
}

async function startRecording() {
  state.minimumAnnounced = false;
  try {
    await recorder.start();
  } catch (error) {
    announce(`The microphone could not be used (${error.message}). Allow it, or upload a recording.`, "error");
    return;
  }
  $("record-start").disabled = true;
  $("sample-file").disabled = true;
  $("record-stop").disabled = false;
  $("record-stop").focus();
  announce("Recording. Read the text aloud, then press Stop recording.");
}

async function stopRecording() {
  $("record-stop").disabled = true;
  const file = await recorder.stop();
  await checkSample(file);
}

async function checkSample(file) {
  state.sample = file;
  $("record-start").disabled = true;
  $("sample-file").disabled = true;
  $("sample-player").src = objectUrl(file);
  $("checks").tBodies[0].replaceChildren();
  $("check-summary").textContent = "Checking…";
  show("step-check");
  announce("Checking your recording…");
  const form = new FormData();
  form.append("samples", file, file.name);
  let report;
  try {
    report = await api("/v1/samples/check", { method: "POST", form });
  } catch (error) {
    $("check-summary").textContent = explain(error, "check the recording");
    announce(explain(error, "check the recording"), "error");
    return;
  }
  renderChecks(report);
  if (report.ok) {
    const next = state.info.consent_required ? "Now record the consent sentence." : "You can create your avatar.";
    $("check-summary").textContent = `Your recording passed every check. ${next}`;
    announce(`Your recording passed every check. ${next}`);
    if (state.info.consent_required) await askConsent();
    else readyToCreate();
  } else {
    const advice = report.advice.map(sentence);
    $("check-summary").replaceChildren("Not fit for cloning yet:", list(advice));
    announce(`Not fit for cloning yet. ${advice.join(" ")} Press Record again to try again.`, "error");
  }
}

function renderChecks(report) {
  const rows = report.checks.map((check) => {
    const [label, format] = CHECK_LABELS[check.name] || [check.name, (v) => String(v)];
    const row = document.createElement("tr");
    row.dataset.check = check.name;
    row.className = check.passed ? "pass" : "fail";
    const advice = check.advice ? sentence(check.advice) : "";
    const cells = [label, check.passed ? "✓ Pass" : "✗ Fail", format(check.value), check.threshold, advice];
    for (const [i, text] of cells.entries()) {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      cell.textContent = text;
      row.append(cell);
    }
    return row;
  });
  $("checks").tBodies[0].replaceChildren(...rows);
}

async function askConsent() {
  try {
    const phrase = await api("/v1/consent/phrase");
    state.phraseId = phrase.phrase_id;
    $("consent-phrase").textContent = phrase.phrase;
  } catch (error) {
    announce(explain(error, "get a consent sentence"), "error");
    return;
  }
  show("step-consent");
}

async function startConsent() {
  try {
    await consentRecorder.start();
  } catch (error) {
    announce(`The microphone could not be used (${error.message}).`, "error");
    return;
  }
  $("consent-start").disabled = true;
  $("consent-stop").disabled = false;
  $("consent-stop").focus();
  announce("Recording. Read the consent sentence, then press Stop consent recording.");
}

async function stopConsent() {
  $("consent-stop").disabled = true;
  useConsent(await consentRecorder.stop());
}

function useConsent(file) {
  state.consent = file;
  $("consent-start").disabled = true;
  $("consent-file").disabled = true;
  announce("Consent recorded. You can create your avatar.");
  readyToCreate();
}

function readyToCreate() {
  $("create").disabled = false;
  show("step-create");
}

async function createAvatar() {
  const run = state.run;
  $("create").disabled = true;
  $("avatar-name").disabled = true;
  const form = new FormData();
  form.append("name", $("avatar-name").value.trim());
  form.append("samples", state.sample, state.sample.name);
  if (state.consent) {
    form.append("consent", state.consent, state.consent.name);
    form.append("phrase_id", state.phraseId);
  }
  let created;
  try {
    created = await api("/v1/avatars", { method: "POST", form });
  } catch (error) {
    $("create").disabled = false;
    $("avatar-name").disabled = false;
    announce(explain(error, "create the avatar"), "error");
    return;
  }
  state.avatarId = created.id;
  announce("Creating your avatar. This takes a minute or so; you can leave this page open.");
  await follow(created.id, run);
}

async function follow(id, run) {
  for (;;) {
    let avatar;
    try {
      avatar = await api(`/v1/avatars/${encodeURIComponent(id)}`);
    } catch (error) {
      announce(explain(error, "follow the avatar's progress"), "error");
      return;
    }
    if (run !== state.run) return; // "Record again" was pressed meanwhile
    $("create-progress").value = avatar.progress;
    $("stage").textContent = avatar.status === "pending" ? `${Math.round(avatar.progress * 100)} %: ${avatar.stage}` : "";
    if (avatar.status !== "pending") return finished(avatar);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function finished(avatar) {
  const outcome = $("outcome");
  outcome.replaceChildren();
  if (avatar.status === "ready") {
    $("create-progress").value = 1;
    outcome.append(paragraph("Your avatar is ready.", "good"), scoreList(avatar.scores));
    show("step-speak");
    announce("Your avatar is ready. Type something and press Speak.");
    return;
  }
  const why = avatar.status === "rejected" ? "did not pass the quality check" : "could not be made";
  const details = [...(avatar.advice || []), ...(avatar.error ? [avatar.error] : [])].map(sentence);
  outcome.append(paragraph(`Your avatar ${why}.`, "bad"), scoreList(avatar.scores), list(details));
  announce(`Your avatar ${why}. ${details.join(" ")} Press Record again to try again.`, "error");
}

/** The server's advice is a clause ("the recording is too quiet: ..."); shown alone it reads as a sentence. */
function sentence(text) {
  const trimmed = text.trim();
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1) + (/[.!?]$/.test(trimmed) ? "" : ".");
}

function paragraph(text, kind) {
  const p = document.createElement("p");
  p.className = kind;
  p.textContent = text;
  return p;
}

function list(items) {
  const ul = document.createElement("ul");
  for (const item of items) ul.append(Object.assign(document.createElement("li"), { textContent: item }));
  return ul;
}

function scoreList(scores) {
  const dl = document.createElement("dl");
  dl.className = "scores";
  for (const [key, value] of Object.entries(scores || {})) {
    dl.append(Object.assign(document.createElement("dt"), { textContent: SCORE_LABELS[key] || key }));
    dl.append(Object.assign(document.createElement("dd"), { textContent: String(value) }));
  }
  return dl;
}

async function speak() {
  const text = $("speak-text").value.trim();
  if (!text) {
    announce("Type something for your avatar to say.", "error");
    $("speak-text").focus();
    return;
  }
  $("speak").disabled = true;
  announce("Speaking…");
  try {
    const audio = await api(`/v1/avatars/${encodeURIComponent(state.avatarId)}/speech`, {
      method: "POST",
      json: { text, format: "wav" },
      as: "blob",
    });
    const player = $("player");
    player.src = objectUrl(audio);
    player.play().catch(() => {}); // a browser may refuse to autoplay: the controls are there
    announce("Here is your avatar reading it. Use the player to hear it again.");
  } catch (error) {
    announce(explain(error, "speak"), "error");
  } finally {
    $("speak").disabled = false;
  }
}

/** "My voice" -> "My voice 2" -> "My voice 3": the last attempt's avatar keeps its name. */
function nextName(name) {
  const match = name.match(/^(.*?)(?: (\d+))?$/);
  return `${match[1]} ${match[2] ? Number(match[2]) + 1 : 2}`.slice(0, 64);
}

async function recordAgain() {
  state.run += 1;
  if (state.avatarId) $("avatar-name").value = nextName($("avatar-name").value.trim() || "My voice");
  await recorder.stop();
  await consentRecorder.stop();
  state.urls.forEach((url) => URL.revokeObjectURL(url));
  Object.assign(state, { sample: null, consent: null, phraseId: null, avatarId: null, urls: [] });
  for (const id of ["step-check", "step-consent", "step-create", "step-speak"]) $(id).hidden = true;
  for (const id of ["sample-player", "player"]) $(id).removeAttribute("src");
  $("checks").tBodies[0].replaceChildren();
  $("outcome").replaceChildren();
  $("stage").textContent = "";
  $("create-progress").value = 0;
  for (const id of ["record-start", "sample-file", "consent-start", "consent-file", "avatar-name"]) $(id).disabled = false;
  for (const id of ["record-stop", "consent-stop", "create"]) $(id).disabled = true;
  $("sample-file").value = "";
  $("consent-file").value = "";
  showElapsed(0);
  $("record-start").focus();
  announce("Ready to record again.");
}

function fileFrom(input) {
  return input.files && input.files.length ? input.files[0] : null;
}

$("api-key").value = savedKey();
$("key-form").addEventListener("submit", connect);
$("record-start").addEventListener("click", startRecording);
$("record-stop").addEventListener("click", stopRecording);
$("sample-file").addEventListener("change", (e) => fileFrom(e.target) && checkSample(fileFrom(e.target)));
$("consent-start").addEventListener("click", startConsent);
$("consent-stop").addEventListener("click", stopConsent);
$("consent-file").addEventListener("change", (e) => fileFrom(e.target) && useConsent(fileFrom(e.target)));
$("create").addEventListener("click", createAvatar);
$("speak").addEventListener("click", speak);
$("again").addEventListener("click", recordAgain);
