/* Phone Locker dashboard: live sections, command status, confirmations, async forms.
 *
 * No framework and nothing inline (the Content-Security-Policy allows only
 * script files from this site). The server renders every section; this file
 * only fetches fresh copies and swaps them in.
 *
 *   [data-poll=URL]        fetch URL (JSON) every data-interval ms; for each
 *                          key of its "html" object, replace the contents of
 *                          [data-section=key] if they changed. With
 *                          data-version=V it sends If-None-Match: V; a 304
 *                          means nothing changed, a reply carries only the
 *                          sections that did and the version to send next.
 *   [data-command-url=URL] poll a command's status until it has finished and
 *                          show its "display" line ("done: ...", "kiosk offline").
 *   form[data-confirm]     ask before submitting.
 *   form[data-async]       submit with fetch and show the reply's message.
 *   input[data-pupil-search=URL]
 *                          the pupil picker (web/picker.py): as the office types, fill
 *                          the input's <datalist> from URL?q=...; picking a suggestion
 *                          sets the form's hidden [data-pupil-id], editing clears it.
 *   a[data-class-fragment=URL]  a collapsed class on a big school's Today: a
 *                          click opens it in place with the HTML fragment at URL
 *                          (that class's rows only) instead of following the
 *                          link to the class's own Today, which works without
 *                          this file. An opened class stays open when a poll
 *                          redraws it (it is fetched again).
 */
"use strict";

(function () {
  const lastHtml = new WeakMap();

  async function getJson(url, version) {
    const headers = { Accept: "application/json" };
    if (version) {
      headers["If-None-Match"] = '"' + version + '"';
    }
    const response = await fetch(url, {
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
    });
    if (version && response.status === 304) {
      return null;  // nothing changed since the version sent
    }
    if (response.redirected || response.status === 401) {
      // The session ended: reloading shows the login page.
      window.location.reload();
      throw new Error("signed out");
    }
    if (!response.ok) {
      throw new Error("HTTP " + response.status);
    }
    return response.json();
  }

  function updateSections(html) {
    for (const [name, markup] of Object.entries(html || {})) {
      document.querySelectorAll('[data-section="' + CSS.escape(name) + '"]').forEach(function (section) {
        if (lastHtml.get(section) !== markup) {
          section.innerHTML = markup;
          lastHtml.set(section, markup);
        }
      });
    }
  }

  const openClasses = new Set();  // fragment URLs of the classes opened on this page

  async function openClass(link) {
    const url = link.dataset.classFragment;
    const section = link.closest("[data-section]");
    const response = await fetch(url, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.redirected || response.status === 401) {
      window.location.reload();  // the session ended
      return;
    }
    if (!response.ok || !section) {
      openClasses.delete(url);
      window.location.href = link.href;  // the class's own Today
      return;
    }
    section.innerHTML = await response.text();
    openClasses.add(url);
  }

  function reopenClasses() {
    document.querySelectorAll("[data-class-fragment]").forEach(function (link) {
      if (openClasses.has(link.dataset.classFragment)) {
        openClass(link).catch(function () { openClasses.delete(link.dataset.classFragment); });
      }
    });
  }

  function onClick(event) {
    const link = event.target instanceof Element && event.target.closest("a[data-class-fragment]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;  // a new tab or window gets the class's own Today
    }
    event.preventDefault();
    link.setAttribute("aria-busy", "true");
    openClass(link).catch(function () { window.location.href = link.href; });
  }

  function startPolling(element) {
    const url = element.dataset.poll;
    const interval = parseInt(element.dataset.interval || "1000", 10);
    const status = element.querySelector("[data-live-status]");
    let version = element.dataset.version || "";
    let failures = 0;

    function show(text, broken) {
      if (status) {
        status.textContent = text;
      }
      element.classList.toggle("live-broken", broken);
    }

    async function tick() {
      if (!document.hidden) {
        try {
          const data = await getJson(url, version);
          if (data) {
            updateSections(data.html);
            version = data.version || "";
            reopenClasses();
          }
          failures = 0;
          show("Live", false);
        } catch (error) {
          failures += 1;
          show("Connection lost, retrying…", true);
        }
      }
      const delay = failures ? Math.min(interval * 2 ** failures, 10000) : interval;
      window.setTimeout(tick, delay);
    }

    window.setTimeout(tick, interval);
  }

  function watchCommand(element) {
    if (element.dataset.finished === "yes") {
      return;
    }
    const started = Date.now();

    async function tick() {
      try {
        const data = await getJson(element.dataset.commandUrl);
        element.textContent = data.display;
        element.className = "command command-" + data.tone;
        if (data.finished) {
          element.dataset.finished = "yes";
          if (data.status === "done" && element.dataset.reloadWhenDone === "yes") {
            window.setTimeout(function () { window.location.reload(); }, 1000);
          }
          return;
        }
      } catch (error) {
        element.textContent = "No answer from the dashboard, retrying…";
      }
      if (Date.now() - started < 90000) {
        window.setTimeout(tick, 500);
      }
    }

    tick();
  }

  function toast(text, ok) {
    let box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("p");
      box.id = "toast";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.className = ok ? "toast toast-ok" : "toast toast-error";
    window.clearTimeout(box.hideTimer);
    box.hideTimer = window.setTimeout(function () { box.className = "toast"; }, 4000);
  }

  function onSubmit(event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (form.hasAttribute("data-async")) {
      event.preventDefault();
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) {
          return response.json()
            .catch(function () { return {}; })
            .then(function (data) {
              toast(data.message || (response.ok ? "Done" : "Failed (" + response.status + ")"),
                response.ok);
            });
        })
        .catch(function () { toast("No answer from the dashboard", false); });
    }
  }

  function pupilPicker(input) {
    const form = input.form;
    const hidden = form ? form.querySelector("[data-pupil-id]") : null;
    const list = input.list;
    const ids = new Map();  // label -> pupil id, of the suggestions shown
    let asked = 0;
    let timer = null;

    function match() {
      if (hidden) {
        hidden.value = ids.get(input.value) || "";
      }
    }

    async function suggest() {
      const text = input.value.trim();
      const ticket = ++asked;
      if (!text || ids.has(input.value)) {
        return;
      }
      const url = new URL(input.dataset.pupilSearch, window.location.href);
      url.searchParams.set("q", text);
      try {
        const pupils = await getJson(url.toString());
        if (ticket !== asked) {
          return;  // a later keystroke has its own answer coming
        }
        ids.clear();
        const options = pupils.map(function (pupil) {
          ids.set(pupil.label, String(pupil.id));
          const option = document.createElement("option");
          option.value = pupil.label;
          option.textContent = pupil.year === 0 ? "Reception" : "Year " + pupil.year;
          return option;
        });
        if (list) {
          list.replaceChildren.apply(list, options);
        }
        match();
      } catch (error) {
        // No suggestions: the server still resolves what was typed.
      }
    }

    input.addEventListener("input", function () {
      match();
      window.clearTimeout(timer);
      timer = window.setTimeout(suggest, 150);
    });
    input.addEventListener("change", match);
  }

  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", onClick);
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(startPolling);
    document.querySelectorAll("[data-command-url]").forEach(watchCommand);
    document.querySelectorAll("input[data-pupil-search]").forEach(pupilPicker);
  });
})();
