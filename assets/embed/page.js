/*
 * Tollgate embed pages: sign-in, a workflow chat, a product form, a bundle
 * list. Everything shown is built with DOM APIs and textContent, never by
 * parsing markup. The visitor's access token is kept in this frame's memory
 * and its origin's sessionStorage only, and is never sent to the host page.
 */
(function () {
  "use strict";

  var app = document.getElementById("tg-app");
  if (!app) return;
  var config = {};
  try {
    config = JSON.parse(app.getAttribute("data-config") || "{}");
  } catch (e) {
    config = {};
  }
  var main = document.getElementById("tg-main");
  var balanceEl = document.getElementById("tg-balance");
  var signOutButton = document.getElementById("tg-signout");
  var TOKEN_KEY = "tollgate.embed.token";
  var memoryToken = null;

  // ---- small helpers ----

  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (!Object.prototype.hasOwnProperty.call(props, k) || props[k] == null) continue;
        if (k === "text") node.textContent = props[k];
        else if (k === "className" || k === "id" || k === "type" || k === "value" || k === "disabled" ||
                 k === "checked" || k === "required" || k === "hidden" || k === "name") node[k] = props[k];
        else node.setAttribute(k, props[k]);
      }
    }
    (children || []).forEach(function (c) {
      if (c == null) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function grouped(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  (function accent() {
    var color = new URLSearchParams(location.search).get("color");
    if (color && /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgba?\([0-9.,%\s]+\)|hsla?\([0-9.,%\sdeg]+\))$/.test(color)) {
      document.documentElement.style.setProperty("--tg-accent", color);
    }
  })();

  // ---- the session ----

  function getToken() {
    if (memoryToken) return memoryToken;
    try {
      memoryToken = window.sessionStorage.getItem(TOKEN_KEY);
    } catch (e) {
      memoryToken = null;
    }
    return memoryToken;
  }

  function setToken(token) {
    memoryToken = token;
    try {
      if (token) window.sessionStorage.setItem(TOKEN_KEY, token);
      else window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // Storage may be blocked in a third-party frame; memory is enough.
    }
  }

  // Calls this server's API; resolves to {status, body} (status 0: no answer).
  function api(method, path, body, extraHeaders) {
    var headers = { Accept: "application/json" };
    var token = getToken();
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    for (var k in extraHeaders || {}) headers[k] = extraHeaders[k];
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store"
    }).then(function (res) {
      return res.text().then(function (text) {
        var parsed = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch (e) {
          parsed = null;
        }
        if (res.status === 401 && token) sessionEnded();
        return { status: res.status, body: parsed, requestId: res.headers.get("x-request-id") };
      });
    }, function () {
      return { status: 0, body: null, requestId: null };
    });
  }

  // A refusal in words a person understands.
  function errorText(res) {
    var b = res.body || {};
    if (res.status === 0) return "Could not reach the server. Check your connection and try again.";
    if (res.status === 401) return "Your session has ended. Sign in again.";
    if (res.status === 429) return "Too many requests. Wait a moment and try again.";
    if (res.status >= 500) {
      return "The server had a problem. Try again in a moment." + (res.requestId ? " (Reference: " + res.requestId + ")" : "");
    }
    if (Array.isArray(b.detail)) {
      return b.detail.map(function (d) {
        var loc = Array.isArray(d.loc) ? d.loc.filter(function (p) { return p !== "body" && p !== "parameters"; }) : [];
        return (loc.length ? loc.join(".") + ": " : "") + (d.msg || "invalid value");
      }).join("; ");
    }
    if (typeof b.message === "string" && b.message) return b.message;
    if (typeof b.detail === "string" && b.detail) return b.detail;
    return "The request failed (HTTP " + res.status + ").";
  }

  function runErrorText(run) {
    if (run.status === "cancelled") return "The run was cancelled.";
    var known = {
      insufficient_credits: "You do not have enough credits for this.",
      budget_cap_exceeded: "Your budget's spending limit was reached.",
      timeout: "The workflow took too long and was stopped."
    };
    return run.error_message || known[run.error_code] || "The workflow failed" + (run.error_code ? " (" + run.error_code + ")." : ".");
  }

  function refreshBalance() {
    if (!getToken()) return Promise.resolve();
    return api("GET", "/credits/balance").then(function (res) {
      if (res.status !== 200 || !res.body || !res.body.data) return;
      var n = res.body.data.balance;
      balanceEl.textContent = "Balance: " + grouped(n) + " " + (n === 1 ? "credit" : "credits");
      balanceEl.setAttribute("data-balance", String(n));
      balanceEl.hidden = false;
    });
  }

  function sessionEnded() {
    setToken(null);
    balanceEl.hidden = true;
    signOutButton.hidden = true;
    renderSignIn("Your session has ended. Sign in again.");
  }

  signOutButton.addEventListener("click", function () {
    setToken(null);
    balanceEl.hidden = true;
    balanceEl.removeAttribute("data-balance");
    signOutButton.hidden = true;
    renderSignIn();
  });

  // ---- sign-in ----

  function field(labelText, input, help) {
    var label = el("label", { className: "tg-field", "for": input.id }, [el("span", { className: "tg-label", text: labelText })]);
    var wrap = el("div", { className: "tg-row" }, [label, input]);
    if (help) wrap.appendChild(el("p", { className: "tg-help", text: help }));
    return wrap;
  }

  function renderSignIn(message) {
    clear(main);
    var email = el("input", { id: "tg-email", type: "email", name: "email", autocomplete: "username", required: true });
    var password = el("input", { id: "tg-password", type: "password", name: "password", autocomplete: "current-password", required: true });
    var error = el("p", { className: "tg-error", id: "tg-signin-error", role: "alert", hidden: !message, text: message || "" });
    var button = el("button", { type: "submit", className: "tg-button", id: "tg-signin-submit", text: "Sign in" });
    var form = el("form", { className: "tg-card tg-signin", id: "tg-signin", novalidate: "" }, [
      el("h2", { text: "Sign in" }),
      el("p", { className: "tg-muted", text: "Use your Tollgate account. Calls are paid with your own credits." }),
      field("Email", email),
      field("Password", password),
      error,
      button
    ]);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (!email.value.trim() || !password.value) {
        error.textContent = "Enter your email and password.";
        error.hidden = false;
        return;
      }
      button.disabled = true;
      button.textContent = "Signing in…";
      error.hidden = true;
      api("POST", "/auth/login", { email: email.value.trim(), password: password.value }).then(function (res) {
        button.disabled = false;
        button.textContent = "Sign in";
        if (res.status === 200 && res.body && res.body.access_token) {
          setToken(res.body.access_token);
          password.value = "";
          signedIn();
        } else {
          error.textContent = res.status === 401 ? "The email or password is not right." : errorText(res);
          error.hidden = false;
        }
      });
    });
    main.appendChild(form);
  }

  function signedIn() {
    signOutButton.hidden = false;
    refreshBalance();
    renderHome();
  }

  // ---- workflow chat ----

  function chatView(workflow, back) {
    clear(main);
    var sessionId = uuid();
    var log = el("div", { className: "tg-messages", id: "tg-messages", role: "log", "aria-live": "polite" }, [
      el("p", { className: "tg-muted", text: "Send a message to run " + workflow.name + ". Each run is charged to your credits." })
    ]);
    var prompt = el("textarea", { id: "tg-prompt", rows: "2", maxlength: "32000", placeholder: "Type a message…", "aria-label": "Message" });
    var send = el("button", { type: "submit", className: "tg-button", id: "tg-send", text: "Send" });
    var form = el("form", { className: "tg-composer", id: "tg-composer" }, [prompt, send]);
    var section = el("section", { className: "tg-chat" }, [back ? backButton(back, workflow.name) : null, log, form]);
    main.appendChild(section);

    function bubble(kind, text) {
      var b = el("div", { className: "tg-msg tg-msg-" + kind, text: text });
      log.appendChild(b);
      log.scrollTop = log.scrollHeight;
      return b;
    }

    function finish(b, kind, text) {
      b.className = "tg-msg tg-msg-" + kind;
      b.textContent = text;
      log.scrollTop = log.scrollHeight;
    }

    function poll(b, path) {
      var started = Date.now();
      var delay = 400;
      function step() {
        return api("GET", path).then(function (res) {
          if (res.status !== 200 || !res.body || !res.body.data) {
            if (res.status === 0 && Date.now() - started < 600000) return sleep(2000).then(step);
            finish(b, "error", errorText(res));
            return;
          }
          var run = res.body.data.run || res.body.data;
          if (run.status === "succeeded") {
            finish(b, "bot", run.response_text || "(The workflow finished without a reply.)");
            return;
          }
          if (run.status === "failed" || run.status === "cancelled") {
            finish(b, "error", runErrorText(run));
            return;
          }
          b.textContent = run.status === "running" ? "Working…" : "Waiting to start…";
          if (Date.now() - started > 600000) {
            finish(b, "error", "The workflow is still running. Check back later.");
            return;
          }
          delay = Math.min(delay * 1.5, 2000);
          return sleep(delay).then(step);
        });
      }
      return step();
    }

    function submit() {
      var text = prompt.value.trim();
      if (!text || send.disabled) return;
      prompt.value = "";
      bubble("user", text);
      var b = bubble("pending", "Sending…");
      send.disabled = true;
      api("POST", "/api/agent-webhooks/" + encodeURIComponent(workflow.id) + "/trigger", {
        prompt: text,
        request_id: uuid(),
        request_metadata: { source: "embed", session_id: sessionId }
      }).then(function (res) {
        if ((res.status === 200 || res.status === 202) && res.body && res.body.data && res.body.data.status_url) {
          b.textContent = "Waiting to start…";
          var url = new URL(res.body.data.status_url, location.href);
          return poll(b, url.pathname + url.search);
        }
        finish(b, "error", errorText(res));
      }).then(function () {
        send.disabled = false;
        refreshBalance();
        prompt.focus();
      });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submit();
    });
    prompt.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        submit();
      }
    });
    prompt.focus();
  }

  // ---- product form ----

  function mainType(schema) {
    var t = schema.type;
    if (Array.isArray(t)) t = t.filter(function (x) { return x !== "null"; })[0];
    if (!t && Array.isArray(schema.enum)) return "enum";
    return t || "string";
  }

  // One input for one property of an action's JSON Schema, with how to read it.
  function control(name, schema, required) {
    var id = "tg-f-" + name.replace(/[^A-Za-z0-9_-]/g, "_");
    var type = mainType(schema);
    var input;
    var read;
    if (Array.isArray(schema.enum)) {
      input = el("select", { id: id, name: name, required: required });
      if (!required) input.appendChild(el("option", { value: "", text: "—" }));
      schema.enum.forEach(function (v, i) {
        input.appendChild(el("option", { value: String(i), text: typeof v === "string" ? v : JSON.stringify(v) }));
      });
      if (schema.default !== undefined) {
        var d = schema.enum.indexOf(schema.default);
        if (d >= 0) input.value = String(d);
      }
      read = function () {
        return input.value === "" ? undefined : { value: schema.enum[Number(input.value)] };
      };
    } else if (type === "boolean") {
      input = el("input", { id: id, name: name, type: "checkbox", checked: schema.default === true });
      read = function () { return { value: input.checked }; };
    } else if (type === "integer" || type === "number") {
      input = el("input", { id: id, name: name, type: "number", required: required, inputmode: type === "integer" ? "numeric" : "decimal",
        step: type === "integer" ? "1" : "any", min: schema.minimum, max: schema.maximum,
        value: typeof schema.default === "number" ? String(schema.default) : null });
      read = function () {
        if (input.value.trim() === "") return undefined;
        var n = Number(input.value);
        if (!isFinite(n)) return { error: "must be a number" };
        if (type === "integer" && !Number.isInteger(n)) return { error: "must be a whole number" };
        return { value: n };
      };
    } else if (type === "string") {
      var long = !schema.format && (!schema.maxLength || schema.maxLength > 120);
      var kind = { email: "email", uri: "url", date: "date" }[schema.format] || "text";
      input = long
        ? el("textarea", { id: id, name: name, rows: "3", required: required, maxlength: schema.maxLength, minlength: schema.minLength })
        : el("input", { id: id, name: name, type: kind, required: required, maxlength: schema.maxLength, minlength: schema.minLength });
      if (typeof schema.default === "string") input.value = schema.default;
      read = function () { return input.value === "" ? undefined : { value: input.value }; };
    } else {
      var simpleList = type === "array" && schema.items && ["number", "integer", "string"].indexOf(mainType(schema.items)) >= 0;
      input = el("textarea", { id: id, name: name, rows: "3", required: required,
        placeholder: simpleList ? "Values separated by commas, or JSON" : "JSON" });
      if (schema.default !== undefined) input.value = JSON.stringify(schema.default);
      read = function () {
        var raw = input.value.trim();
        if (raw === "") return undefined;
        try {
          return { value: JSON.parse(raw) };
        } catch (e) {
          if (!simpleList) return { error: "must be valid JSON" };
        }
        var itemType = mainType(schema.items);
        var items = raw.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s !== ""; });
        if (itemType === "string") return { value: items };
        var nums = items.map(Number);
        if (nums.some(function (n) { return !isFinite(n); })) return { error: "must be numbers separated by commas" };
        return { value: nums };
      };
    }
    var labelText = schema.title || name;
    var label = el("label", { className: "tg-field", "for": id }, [el("span", { className: "tg-label", text: labelText })]);
    if (required) {
      label.appendChild(el("span", { className: "tg-required", "aria-hidden": "true", text: " *" }));
      label.appendChild(el("span", { className: "tg-sr", text: " (required)" }));
      input.setAttribute("aria-required", "true");
    }
    var row = el("div", { className: "tg-row" + (type === "boolean" ? " tg-row-check" : "") }, [label, input]);
    if (schema.description) row.appendChild(el("p", { className: "tg-help", text: schema.description }));
    return { name: name, row: row, input: input, read: read, required: required, label: labelText };
  }

  function productView(product, back) {
    clear(main);
    var actions = Array.isArray(product.actions) ? product.actions : [];
    var title = product.display_name || product.name;
    var section = el("section", { className: "tg-product" }, [back ? backButton(back, title) : null]);
    main.appendChild(section);
    if (!actions.length) {
      section.appendChild(el("p", { className: "tg-muted", text: "This tool has no actions you can call." }));
      return;
    }
    var select = el("select", { id: "tg-action", name: "action" });
    actions.forEach(function (a, i) {
      select.appendChild(el("option", { value: String(i), text: a.name + " (" + plural(a.price_credits, "credit") + ")" }));
    });
    var actionRow = field("Action", select);
    actionRow.hidden = actions.length === 1;
    var description = el("p", { className: "tg-help", id: "tg-action-description" });
    var price = el("p", { className: "tg-price", id: "tg-price" });
    var fields = el("div", { className: "tg-fields", id: "tg-fields" });
    var error = el("p", { className: "tg-error", id: "tg-form-error", role: "alert", hidden: true });
    var run = el("button", { type: "submit", className: "tg-button", id: "tg-run", text: "Run" });
    var form = el("form", { className: "tg-card", id: "tg-product-form", novalidate: "" }, [actionRow, description, price, fields, error, run]);
    var result = el("div", { className: "tg-result", id: "tg-result", "aria-live": "polite" });
    section.appendChild(form);
    section.appendChild(result);
    var controls = [];

    function showAction() {
      var a = actions[Number(select.value)];
      description.textContent = a.description || "";
      price.textContent = "Price: " + plural(a.price_credits, "credit") + " per call";
      price.setAttribute("data-price", String(a.price_credits));
      run.textContent = "Run " + a.name;
      clear(fields);
      clear(result);
      var params = a.parameters || {};
      var required = Array.isArray(params.required) ? params.required : [];
      var props = params.properties || {};
      controls = Object.keys(props).map(function (name) {
        return control(name, props[name] || {}, required.indexOf(name) >= 0);
      });
      controls.forEach(function (c) { fields.appendChild(c.row); });
      if (!controls.length) fields.appendChild(el("p", { className: "tg-muted", text: "This action takes no input." }));
    }

    select.addEventListener("change", showAction);
    showAction();

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var a = actions[Number(select.value)];
      var parameters = { action: a.name };
      var problems = [];
      controls.forEach(function (c) {
        var got = c.read();
        if (got === undefined) {
          if (c.required) problems.push(c.label + " is required");
        } else if (got.error) {
          problems.push(c.label + " " + got.error);
        } else {
          parameters[c.name] = got.value;
        }
      });
      if (problems.length) {
        error.textContent = problems.join(". ") + ".";
        error.hidden = false;
        return;
      }
      error.hidden = true;
      run.disabled = true;
      clear(result);
      result.appendChild(el("p", { className: "tg-muted", text: "Running…" }));
      api("POST", "/products/purchase", { product_id: product.id, parameters: parameters }, { "Idempotency-Key": uuid() }).then(function (res) {
        run.disabled = false;
        clear(result);
        if (res.status === 200 && res.body && res.body.success) {
          showResult(result, res.body);
          refreshBalance();
        } else {
          result.appendChild(el("p", { className: "tg-error", id: "tg-result-error", role: "alert", text: errorText(res) }));
        }
        if (result.scrollIntoView) result.scrollIntoView({ block: "nearest" });
      });
    });
  }

  function showResult(target, body) {
    var data = body.data;
    var headline = null;
    if (data && typeof data === "object" && !Array.isArray(data) && "result" in data && (data.result === null || typeof data.result !== "object")) {
      headline = String(data.result);
    } else if (data === null || typeof data !== "object") {
      headline = String(data);
    }
    var box = el("div", { className: "tg-card tg-result-ok", id: "tg-result-ok" }, [el("h2", { text: "Result" })]);
    if (headline !== null) box.appendChild(el("p", { className: "tg-result-main", id: "tg-result-main", text: headline }));
    box.appendChild(el("pre", { className: "tg-json", text: JSON.stringify(data, null, 2) }));
    var charged = typeof body.price_credits === "number" ? body.price_credits : null;
    if (charged !== null) {
      box.appendChild(el("p", { className: "tg-charged", id: "tg-charged", "data-price": String(charged), text: "Charged " + plural(charged, "credit") + "." }));
    }
    target.appendChild(box);
  }

  // ---- bundle ----

  function backButton(back, title) {
    var b = el("button", { type: "button", className: "tg-link tg-back", text: "← All items" });
    b.addEventListener("click", back);
    return el("div", { className: "tg-subhead" }, [b, el("h2", { className: "tg-subtitle-item", text: title })]);
  }

  function bundleView(bundle) {
    clear(main);
    var home = function () { bundleView(bundle); };
    var products = Array.isArray(bundle.products) ? bundle.products : [];
    var workflows = Array.isArray(bundle.workflows) ? bundle.workflows : [];
    var section = el("section", { className: "tg-bundle" });
    function list(heading, items, label, open) {
      if (!items.length) return;
      section.appendChild(el("h2", { text: heading }));
      var ul = el("ul", { className: "tg-items" });
      items.forEach(function (item) {
        var button = el("button", { type: "button", className: "tg-item" }, [
          el("span", { className: "tg-item-name", text: label(item) }),
          el("span", { className: "tg-item-desc", text: item.description || "" })
        ]);
        button.addEventListener("click", function () { open(item); });
        ul.appendChild(el("li", null, [button]));
      });
      section.appendChild(ul);
    }
    list("Tools", products, function (p) { return p.display_name || p.name; }, function (p) { productView(p, home); });
    list("Workflows", workflows, function (w) { return w.name; }, function (w) { chatView(w, home); });
    if (!products.length && !workflows.length) {
      section.appendChild(el("p", { className: "tg-muted", text: "This bundle has nothing you can use yet." }));
    }
    main.appendChild(section);
  }

  function renderHome() {
    if (config.kind === "workflow" && config.workflow) chatView(config.workflow);
    else if (config.kind === "product" && config.product) productView(config.product);
    else if (config.kind === "bundle" && config.bundle) bundleView(config.bundle);
    else {
      clear(main);
      main.appendChild(el("p", { className: "tg-error", text: "This widget could not be set up." }));
    }
  }

  if (getToken()) signedIn();
  else renderSignIn();
})();
