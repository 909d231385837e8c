// Sends the page's CSRF token with every htmx request (the server refuses unsafe requests without it).
document.addEventListener("htmx:configRequest", function (e) {
  var t = document.body.dataset.csrf;
  if (t) { e.detail.headers["X-CSRF-Token"] = t; }
});
