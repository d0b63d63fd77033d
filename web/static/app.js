// Progressive behaviour only: every page works without it.
(function () {
  "use strict";

  // Menus: one open group at a time; Escape or a click elsewhere closes it.
  function closeMenus(except) {
    document.querySelectorAll(".menu details[open]").forEach(function (d) {
      if (d !== except && !d.contains(document.activeElement)) { d.removeAttribute("open"); }
    });
  }
  document.addEventListener("click", function (e) {
    var inside = e.target.closest && e.target.closest(".menu details");
    closeMenus(inside);
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") {
      var open = document.querySelector(".menu details[open]");
      if (open) { open.removeAttribute("open"); open.querySelector("summary").focus(); }
    }
  });

  // Suggestions: an input with data-suggest refreshes its <datalist> as one types.
  document.querySelectorAll("input[data-suggest]").forEach(function (input) {
    var list = document.getElementById(input.getAttribute("list"));
    var timer = null;
    if (!list) { return; }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var url = input.dataset.suggest + "&q=" + encodeURIComponent(input.value);
        fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (body) {
            if (!body) { return; }
            list.textContent = "";
            body.items.forEach(function (item) {
              var option = document.createElement("option");
              option.value = item.value;
              option.textContent = item.label;
              list.appendChild(option);
            });
          })
          .catch(function () { /* keep the current suggestions */ });
      }, 150);
    });
  });

  // Live status: rows with data-live-invoice change by themselves.
  var live = document.querySelectorAll("[data-live-invoice]");
  var endpoint = document.body.querySelector("[data-live-endpoint]");
  if (live.length && endpoint) {
    var url = endpoint.getAttribute("data-live-endpoint");
    var finished = (endpoint.getAttribute("data-live-final") || "").split(" ");
    var delay = 1000;
    var poll = function () {
      var ids = [];
      document.querySelectorAll("[data-live-invoice]").forEach(function (el) {
        if (finished.indexOf(el.getAttribute("data-status")) < 0) { ids.push(el.getAttribute("data-live-invoice")); }
      });
      if (!ids.length) { return; }
      if (document.hidden) { setTimeout(poll, delay); return; }
      fetch(url + "?ids=" + ids.join(","), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (body) {
            Object.keys(body.items).forEach(function (id) {
              var item = body.items[id];
              document.querySelectorAll('[data-live-invoice="' + id + '"]').forEach(function (el) {
                if (el.getAttribute("data-status") !== item.status) {
                  el.setAttribute("data-status", item.status);
                  el.className = "badge " + item.status;
                  el.textContent = item.label;
                }
              });
            });
            delay = 1000;
          } else {
            delay = Math.min(delay * 2, 15000);
          }
          setTimeout(poll, delay);
        })
        .catch(function () { delay = Math.min(delay * 2, 15000); setTimeout(poll, delay); });
    };
    setTimeout(poll, delay);
  }
})();
