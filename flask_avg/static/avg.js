/*
 * flask-avg's one script (served from 'self', so the pages' CSP allows it).
 * Everything here is an enhancement: without JavaScript the pages work as they are.
 *
 * - A form with data-avg-confirm="question" asks that question before it is sent
 *   (destructive actions also have a preview page first).
 * - A wide table scrolls inside its own box: tables not already inside an
 *   .avg-table-wrap get one (the stylesheet already lets them scroll by themselves),
 *   and a box that scrolls can be reached with the keyboard.
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-avg-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  function wrapTables() {
    var tables = document.querySelectorAll(".avg table");
    for (var i = 0; i < tables.length; i++) {
      var table = tables[i];
      var parent = table.parentElement;
      if (!parent || parent.classList.contains("avg-table-wrap") || parent.closest("table")) continue;
      var wrap = document.createElement("div");
      wrap.className = "avg-table-wrap";
      parent.insertBefore(wrap, table);
      wrap.appendChild(table);
    }
  }

  function focusableScrollers() {
    var boxes = document.querySelectorAll(".avg .avg-table-wrap, .avg pre");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-avg-scrolls", "");
      } else if (!scrolls && box.hasAttribute("data-avg-scrolls")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-avg-scrolls");
      }
    }
  }

  function ready() {
    wrapTables();
    focusableScrollers();
    var timer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(focusableScrollers, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
