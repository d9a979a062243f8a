// The "we're working on it" page: live progress over EventSource, polling as a fallback.
// Text from the server is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var main = document.getElementById("job");
  if (!main) { return; }
  var jobId = main.dataset.jobId;
  // behind a proxy (JupyterHub, Binder) the page lives under a prefix: so do its requests
  var root = document.body.dataset.root || "";
  var status = main.dataset.status;
  if (status !== "queued" && status !== "started") { return; }

  var bar = document.getElementById("percent");
  var message = document.getElementById("status-message");
  var steps = document.getElementById("steps");
  var transport = document.getElementById("transport");
  var cancelButton = document.getElementById("cancel");
  var lastStep = null;
  var ended = false;
  var terminal = { finished: true, failed: true, canceled: true };

  function show(progress) {
    if (!progress) { return; }
    bar.value = progress.percent || 0;
    message.textContent = progress.message || "";
    if (progress.step && progress.step !== lastStep) {
      lastStep = progress.step;
      var item = document.createElement("li");
      item.textContent = progress.step;
      item.dataset.step = progress.step;
      steps.appendChild(item);
    }
  }

  function getStatus() {
    return fetch(root + "/jobs/" + encodeURIComponent(jobId), {
      headers: { "Accept": "application/json" }, cache: "no-store"
    }).then(function (response) {
      if (!response.ok) { throw new Error("status " + response.status); }
      return response.json();
    });
  }

  // The job has ended: show the permalink's final state once the status says so.
  function finish() {
    ended = true;
    var tries = 0;
    (function check() {
      getStatus().then(function (view) {
        if (terminal[view.status] || ++tries > 50) { window.location.reload(); }
        else { setTimeout(check, 100); }
      }).catch(function () { setTimeout(check, 500); });
    })();
  }

  function poll() {
    transport.textContent = "polling";
    var delay = 250;
    (function tick() {
      if (ended) { return; }
      getStatus().then(function (view) {
        show(view.progress);
        if (terminal[view.status]) { ended = true; window.location.reload(); return; }
        delay = Math.min(delay * 1.5, 5000);
        setTimeout(tick, delay);
      }).catch(function () {
        delay = Math.min(delay * 2, 10000);
        setTimeout(tick, delay);
      });
    })();
  }

  function listen() {
    var source = new EventSource(root + "/jobs/" + encodeURIComponent(jobId) + "/events");
    var opened = false;
    var failures = 0;
    source.addEventListener("open", function () {
      opened = true;
      failures = 0;
      transport.textContent = "live";
    });
    source.addEventListener("progress", function (event) {
      show(JSON.parse(event.data));
    });
    source.addEventListener("done", function (event) {
      source.close();
      show(JSON.parse(event.data));
      finish();
    });
    source.addEventListener("error", function () {
      if (ended) { return; }
      failures += 1;
      // A cut connection reconnects by itself (with Last-Event-ID); a stream that
      // never opened, or keeps failing, is not coming back: poll instead.
      if (!opened || failures >= 3 || source.readyState === EventSource.CLOSED) {
        source.close();
        poll();
      } else {
        transport.textContent = "reconnecting";
      }
    });
  }

  cancelButton.addEventListener("click", function () {
    cancelButton.disabled = true;
    fetch(root + "/jobs/" + encodeURIComponent(jobId), { method: "DELETE" })
      .then(function () { ended = true; window.location.reload(); });
  });

  if (main.dataset.transport === "poll" || !("EventSource" in window)) { poll(); }
  else { listen(); }
})();
