/**
 * The review page, served by review-queue at its path. One file, no dependencies, no inline event
 * attributes; every text from a document is put in with textContent (never innerHTML), so a
 * transcript cannot inject markup. It talks to the JSON API beside it (relative addresses) and
 * follows the worklist with Server-Sent Events.
 */
export const REVIEW_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Transcript review</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d2733; background: #f4f6f8; }
  header { background: #24415c; color: #fff; padding: 8px 16px; display: flex; justify-content: space-between; align-items: center; }
  header h1 { font-size: 18px; margin: 0; }
  main { display: grid; grid-template-columns: minmax(260px, 30%) 1fr; gap: 12px; padding: 12px; }
  section { background: #fff; border: 1px solid #d5dde5; border-radius: 6px; padding: 10px 12px; }
  #worklist { list-style: none; margin: 0; padding: 0; }
  #worklist li { padding: 8px; border-bottom: 1px solid #e5eaef; cursor: pointer; }
  #worklist li:hover, #worklist li.open { background: #eaf2fb; }
  #worklist .meta { color: #5a6b7b; font-size: 13px; }
  .badge { display: inline-block; font-size: 12px; padding: 0 6px; border-radius: 8px; background: #dde6ee; margin-left: 4px; }
  .badge.pending { background: #fff1c2; } .badge.signed { background: #cdeccf; } .badge.withdrawn { background: #f5c9c9; }
  .turn { margin: 6px 0; } .speaker { font-weight: 600; color: #24415c; margin-right: 6px; }
  .w { cursor: pointer; border-radius: 3px; padding: 0 1px; } .w:hover { background: #dbe9f7; }
  .w.low { background: #ffd9a8; border-bottom: 2px solid #d9822b; } .w.playing { outline: 2px solid #2f6db5; }
  textarea { width: 100%; box-sizing: border-box; min-height: 140px; font: inherit; }
  button { font: inherit; padding: 5px 12px; margin: 6px 6px 0 0; border-radius: 4px; border: 1px solid #7f93a8; background: #fff; cursor: pointer; }
  button.primary { background: #2f6db5; color: #fff; border-color: #2f6db5; }
  button:disabled { opacity: .5; cursor: default; }
  #message { min-height: 1.4em; margin-top: 6px; } #message.error { color: #b3261e; } #message.ok { color: #1e7b34; }
  .hidden { display: none; } audio { width: 100%; margin: 6px 0; }
  .note-section h4 { margin: 8px 0 2px; font-size: 15px; color: #24415c; }
  .sentence { margin: 2px 0; padding: 1px 4px; border-radius: 3px; cursor: pointer; } .sentence:hover { background: #dbe9f7; }
  .sentence.selected { background: #dcefd6; outline: 1px solid #4f8f3a; } .sentence.no-evidence { cursor: default; color: #5a6b7b; }
  .w.evidence { background: #c9e7c0; }
</style>
</head>
<body>
<header><h1>Transcript review</h1><span id="who">…</span></header>
<main>
  <section aria-label="Worklist"><h2>Worklist</h2><ul id="worklist"></ul><p id="empty" class="meta">No documents await review.</p></section>
  <section aria-label="Document" id="doc" class="hidden">
    <h2 id="doc-title"></h2>
    <div id="doc-meta" class="meta"></div>
    <audio id="player" controls preload="metadata" class="hidden"></audio>
    <div id="note-box" class="hidden"><h3>Clinical note <small class="meta">(machine-generated; click a sentence to see and hear what it was drawn from)</small></h3><div id="note"></div></div>
    <h3>Machine transcript <small class="meta">(click a word to hear it; highlighted words were uncertain)</small></h3>
    <div id="transcript"></div>
    <h3>Text to sign</h3>
    <textarea id="draft" aria-label="Text to sign"></textarea>
    <div>
      <button id="save">Save draft</button>
      <button id="sign" class="primary">Sign</button>
      <button id="withdraw">Withdraw…</button>
    </div>
    <div id="withdraw-box" class="hidden"><label>Reason <input id="reason" size="40" value="wrong patient"></label> <button id="withdraw-confirm">Withdraw document</button></div>
    <div id="addendum-box" class="hidden"><h3>Addendum</h3><textarea id="addendum"></textarea><button id="addendum-sign" class="primary">Sign addendum</button></div>
    <div id="message" role="status"></div>
  </section>
</main>
<script>
"use strict";
(function () {
  var session = null, current = null, words = [], stopAt = null;
  var $ = function (id) { return document.getElementById(id); };
  function say(text, ok) { var m = $("message"); m.textContent = text; m.className = ok ? "ok" : "error"; }
  function api(path, options) {
    options = options || {};
    var headers = { accept: "application/json" };
    if (options.body !== undefined) { headers["content-type"] = "application/json"; headers["x-csrf-token"] = session ? session.csrfToken : ""; }
    return fetch("api/" + path, { method: options.method || "GET", headers: headers, credentials: "same-origin",
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined })
      .then(function (res) { return res.json().catch(function () { return {}; }).then(function (body) { return { status: res.status, body: body }; }); });
  }
  function loadList() {
    return api("documents").then(function (r) {
      if (r.status !== 200) return;
      var list = $("worklist"); list.textContent = "";
      $("empty").classList.toggle("hidden", r.body.documents.length > 0);
      r.body.documents.forEach(function (d) {
        var li = document.createElement("li"); li.dataset.id = d.id; if (current && current.id === d.id) li.className = "open";
        var title = document.createElement("div"); title.textContent = d.patient || "(no patient given)";
        var badge = document.createElement("span"); badge.className = "badge " + d.state; badge.textContent = d.state; title.appendChild(badge);
        if (d.source === "review-route") { var f = document.createElement("span"); f.className = "badge"; f.textContent = "flagged"; title.appendChild(f); }
        var meta = document.createElement("div"); meta.className = "meta";
        meta.textContent = new Date(d.receivedAt).toLocaleString() + (d.encounter ? " · " + d.encounter : "") + " · " + d.words + " words · " + d.provider;
        li.appendChild(title); li.appendChild(meta);
        li.addEventListener("click", function () { open(d.id); });
        list.appendChild(li);
      });
    });
  }
  // The word error rate of the signed text against the machine's; null: past the measuring bound.
  function werText(wer) {
    if (wer === null) return "word error rate not measured (rewritten beyond what is measured; see docs/review.md)";
    return typeof wer === "number" ? "word error rate " + (wer * 100).toFixed(1) + " %" : "";
  }
  function render(doc) {
    current = doc;
    $("doc").classList.remove("hidden");
    $("doc-title").textContent = doc.patient || "(no patient given)";
    $("doc-meta").textContent = [doc.encounter, doc.provider, "version " + doc.version, doc.state,
      doc.signed ? "signed by " + doc.signed.by + " " + new Date(doc.signed.at).toLocaleString() : "",
      doc.signed ? werText(doc.signed.wer) : "",
      doc.editedBy ? "last edited by " + doc.editedBy : ""].filter(Boolean).join(" · ");
    var low = {};
    (doc.review || []).forEach(function (item) { (item.lowConfidenceWords || []).forEach(function (w) { low[w.startTime + "|" + w.text] = true; }); });
    var box = $("transcript"); box.textContent = ""; words = [];
    var turn = null, speaker;
    doc.words.forEach(function (w) {
      if (!turn || w.speaker !== speaker) {
        speaker = w.speaker; turn = document.createElement("p"); turn.className = "turn";
        if (speaker !== undefined) { var s = document.createElement("span"); s.className = "speaker"; s.textContent = speaker + ":"; turn.appendChild(s); }
        box.appendChild(turn);
      }
      if (w.kind !== "punctuation") turn.appendChild(document.createTextNode(" "));
      var span = document.createElement("span"); span.className = "w"; span.textContent = w.text;
      span.dataset.start = String(w.startTime); span.dataset.end = String(w.endTime);
      if (typeof w.segment === "string") span.dataset.segment = w.segment;
      if ((typeof w.confidence === "number" && w.confidence < 0.85) || low[w.startTime + "|" + w.text]) span.className += " low";
      span.addEventListener("click", function () { play(w.startTime, w.endTime, span); });
      turn.appendChild(span); words.push(span);
    });
    if (doc.words.length === 0) box.textContent = doc.machineText;
    renderNote(doc.note);
    var player = $("player");
    player.classList.toggle("hidden", !doc.audio);
    if (doc.audio) player.src = "api/documents/" + encodeURIComponent(doc.id) + "/audio"; else player.removeAttribute("src");
    $("draft").value = doc.draftText;
    var signer = session.roles.indexOf("signer") >= 0, open = doc.state !== "withdrawn";
    $("draft").disabled = !open;
    $("save").disabled = doc.state !== "pending";
    $("sign").disabled = !signer || !open;
    $("sign").textContent = doc.state === "signed" ? "Sign correction" : "Sign";
    $("withdraw").disabled = !signer || !open;
    $("addendum-box").classList.toggle("hidden", !(signer && doc.state === "signed"));
    $("withdraw-box").classList.add("hidden");
  }
  // A scribe's note by section; a sentence's evidence is highlighted in the transcript and played.
  function renderNote(note) {
    var box = $("note"); box.textContent = "";
    $("note-box").classList.toggle("hidden", !note);
    if (!note) return;
    note.sections.forEach(function (section) {
      var div = document.createElement("div"); div.className = "note-section";
      var h = document.createElement("h4"); h.textContent = section.title; div.appendChild(h);
      section.sentences.forEach(function (sentence) {
        var p = document.createElement("p"); p.className = "sentence"; p.textContent = sentence.text;
        if (sentence.evidence.length === 0) p.className += " no-evidence";
        p.addEventListener("click", function () { showEvidence(sentence, p); });
        div.appendChild(p);
      });
      box.appendChild(div);
    });
  }
  function showEvidence(sentence, p) {
    Array.prototype.forEach.call(document.querySelectorAll(".sentence.selected"), function (s) { s.classList.remove("selected"); });
    p.classList.add("selected");
    var ids = Object.create(null), start = Infinity, end = 0, first = null;
    sentence.evidence.forEach(function (e) { ids[e.segmentId] = true; start = Math.min(start, e.startTime); end = Math.max(end, e.endTime); });
    words.forEach(function (w) {
      var on = w.dataset.segment !== undefined && ids[w.dataset.segment] === true;
      w.classList.toggle("evidence", on); if (on && !first) first = w;
    });
    if (first) first.scrollIntoView({ block: "nearest" });
    if (sentence.evidence.length > 0) play(start, end, null);
  }
  function play(start, end, span) {
    var player = $("player"); if (!current || !current.audio) return;
    words.forEach(function (w) { w.classList.remove("playing"); }); if (span) span.classList.add("playing");
    player.currentTime = Math.max(0, start - 0.2); stopAt = end + 0.3;
    player.play().catch(function () { say("The browser would not play the audio.", false); });
  }
  $("player").addEventListener("timeupdate", function () { if (stopAt !== null && this.currentTime >= stopAt) { this.pause(); stopAt = null; } });
  function open(id) {
    return api("documents/" + encodeURIComponent(id)).then(function (r) {
      if (r.status !== 200) { say(r.body.message || "Could not open the document.", false); return; }
      say("", true); render(r.body); loadList();
    });
  }
  function change(action, body, done) {
    body.version = current.version;
    return api("documents/" + encodeURIComponent(current.id) + "/" + action, { method: "POST", body: body }).then(function (r) {
      if (r.status === 200) { render(r.body); say(done, true); loadList(); }
      else say(r.body.message || ("Refused (" + r.status + ")"), false);
    });
  }
  $("save").addEventListener("click", function () { change("edit", { text: $("draft").value }, "Draft saved."); });
  $("sign").addEventListener("click", function () { change("sign", { text: $("draft").value }, "Signed."); });
  $("withdraw").addEventListener("click", function () { $("withdraw-box").classList.toggle("hidden"); });
  $("withdraw-confirm").addEventListener("click", function () { change("withdraw", { reason: $("reason").value }, "Withdrawn."); });
  $("addendum-sign").addEventListener("click", function () { change("addendum", { text: $("addendum").value }, "Addendum signed."); });
  api("session").then(function (r) {
    if (r.status !== 200) { $("who").textContent = r.body.message || "Not signed in"; return; }
    session = r.body;
    $("who").textContent = session.user + " (" + session.roles.join(", ") + ")";
    loadList();
    var events = new EventSource("api/events");
    events.addEventListener("worklist", function (e) {
      var change = JSON.parse(e.data);
      loadList();
      if (current && change.id === current.id && change.version !== current.version) {
        say("Someone else changed this document (now version " + change.version + "): reopen it before you sign.", false);
      }
    });
  });
})();
</script>
</body>
</html>
`;
