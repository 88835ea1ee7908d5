extension ClassroomPages {
    /// The pages' one script (same origin, so the CSP allows it): checks the booking form as the teacher types,
    /// through the JSON API with the session's CSRF token; refreshes a booking's seat states every few seconds.
    static let script = """
        "use strict";
        (function () {
          var form = document.getElementById("booking");
          if (form) {
            var timer = null;
            var box = document.getElementById("fit");
            var csrf = form.querySelector("input[name=csrf]").value;
            function field(name) { var e = form.elements[name]; return e ? e.value.trim() : ""; }
            function list(text) { return text.split(/[\\s,]+/).filter(function (s) { return s.length > 0; }); }
            function show(kind, title, lines) {
              box.textContent = "";
              var div = document.createElement("div");
              div.className = "message " + kind;
              var strong = document.createElement("strong");
              strong.textContent = title;
              div.appendChild(strong);
              lines.forEach(function (line) { div.appendChild(document.createElement("br")); div.appendChild(document.createTextNode(line)); });
              box.appendChild(div);
            }
            function check() {
              if (!field("template") || !field("offering") || !field("seats") || !field("start") || !field("minutes")) { return; }
              var body = {
                title: field("title") || "Lab", template: field("template"), offering: field("offering"),
                seats: parseInt(field("seats"), 10), spares: parseInt(field("spares") || "0", 10),
                start: field("start").slice(0, 16), durationMinutes: parseInt(field("minutes"), 10),
                rrule: field("rrule") || null, skipped: list(field("skipped")),
                regions: list(field("regions")).map(function (s) { return parseInt(s, 10); }),
                allowSplit: form.elements.allowSplit.checked
              };
              fetch(form.dataset.check, {
                method: "POST", credentials: "same-origin",
                headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body)
              }).then(function (r) { return r.json().then(function (j) { return [r.status, j]; }); }).then(function (answer) {
                var status = answer[0], json = answer[1];
                if (status === 200) {
                  var sessions = {}; json.placements.forEach(function (p) { sessions[p.session] = true; });
                  show("ok", "It fits: " + Object.keys(sessions).length + " sessions.", []);
                } else if (status === 409) {
                  var lines = json.refusal.shortfalls.slice(0, 8).map(function (s) {
                    return "Session " + (s.session + 1) + ", " + s.start + ": " + s.missingSeats + " seats short (" + s.resource +
                      (s.regionID == null ? "" : " in region " + s.regionID) + ")";
                  });
                  if (json.refusal.alternatives.length > 0) { lines.push("Would fit instead:"); }
                  json.refusal.alternatives.forEach(function (a) { lines.push("• " + a.summary); });
                  show("error", "It does not fit: " + json.refusal.shortfalls.length + " sessions lack room.", lines);
                } else {
                  show("error", (json.error && json.error.message) || ("The check failed (" + status + ")."), []);
                }
              }).catch(function () {});
            }
            form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(check, 400); });
          }
          var live = document.querySelector("[data-refresh]");
          if (live) {
            setInterval(function () {
              fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (text) {
                if (!text) { return; }
                var fresh = new DOMParser().parseFromString(text, "text/html").getElementById(live.id);
                if (fresh) { live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes)); }
              }).catch(function () {});
            }, 1000 * parseInt(live.dataset.refresh, 10));
          }
        })();
        """
}
