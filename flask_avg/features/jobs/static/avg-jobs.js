/* flask-avg: follow a background job's progress on its page (no inline script, no CDN).
   Polls the job's JSON every second; when it ends, the page reloads once to show the
   result link or the error with its retry button. */
(function () {
  "use strict";
  var box = document.querySelector("[data-avg-job]");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-avg-job");
  var bar = box.querySelector("progress.avg-progress");
  var percent = box.querySelector("[data-avg-job-field=percent]");
  var initial = box.querySelector("[data-avg-job-field=status]");
  if (!initial) { return; }
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (info) {
        if (!info) { return; }
        if (bar) { bar.value = info.percent; bar.textContent = info.percent + "%"; }
        if (percent) { percent.textContent = info.percent; }
        if (info.status === "done" || info.status === "failed" || info.status === "expired") {
          if (box.getAttribute("data-avg-job-ended") !== info.status) {
            window.location.reload();
          }
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  var ended = ["done", "failed", "expired"];
  var now = box.getAttribute("data-avg-job-status");
  if (ended.indexOf(now) === -1) { window.setTimeout(poll, 500); }
}());
