/*
 * Tollgate embed loader.
 *
 *   <script src="https://HOST/embed.js" async data-workflow-id="..."></script>
 *
 * or data-bundle-id / data-product-id instead of data-workflow-id. Optional:
 *   data-title     the launcher's label and the frame's title
 *   data-position  "bottom-right" (default) or "bottom-left"
 *   data-color     the accent colour, e.g. "#0f766e"
 *
 * Each script tag adds one launcher button that opens and closes a frame on
 * HOST's embed page. The visitor signs in inside that frame; nothing of
 * their session reaches this page. The only global is window.TollgateEmbed:
 *   TollgateEmbed.version    the loader's version
 *   TollgateEmbed.widgets    one entry per widget: {kind, id, title,
 *                            position, launcher, open(), close(), toggle(),
 *                            isOpen()}
 *   TollgateEmbed.closeAll() closes every widget's frame
 */
(function () {
  "use strict";

  var KINDS = [
    { attr: "data-workflow-id", kind: "workflow", path: "" },
    { attr: "data-bundle-id", kind: "bundle", path: "bundle/" },
    { attr: "data-product-id", kind: "product", path: "product/" }
  ];
  var DEFAULT_COLOR = "#0f766e";
  var MOUNTED = "data-tollgate-mounted";
  var LAUNCHER_GAP = 64;
  var EDGE = 20;
  var Z = "2147483000";

  var api = window.TollgateEmbed;
  if (!api || typeof api !== "object" || !Array.isArray(api.widgets)) {
    api = {
      version: "1",
      widgets: [],
      closeAll: function () {
        for (var i = 0; i < api.widgets.length; i++) api.widgets[i].close();
      }
    };
    try {
      Object.defineProperty(window, "TollgateEmbed", { value: api, configurable: true });
    } catch (e) {
      window.TollgateEmbed = api;
    }
  }

  function isLoader(script) {
    var src = script && script.getAttribute("src");
    if (!src) return false;
    try {
      return /\/embed\.js$/.test(new URL(src, document.baseURI).pathname);
    } catch (e) {
      return false;
    }
  }

  // The tags to mount now: this script's own, or, where the browser does not
  // say which script runs (document.currentScript is null in some cases),
  // every loader tag not mounted yet.
  function ownScripts() {
    var current = document.currentScript;
    if (current && isLoader(current)) return [current];
    var all = document.getElementsByTagName("script");
    var found = [];
    for (var i = 0; i < all.length; i++) {
      if (isLoader(all[i]) && !all[i].hasAttribute(MOUNTED)) found.push(all[i]);
    }
    return found;
  }

  function safeColor(value) {
    if (!value) return DEFAULT_COLOR;
    var probe = document.createElement("span");
    probe.style.color = value;
    return probe.style.color ? value : DEFAULT_COLOR;
  }

  function css(el, styles) {
    for (var k in styles) {
      if (Object.prototype.hasOwnProperty.call(styles, k)) el.style.setProperty(k, styles[k]);
    }
  }

  function sameSide(widget) {
    var list = [];
    for (var i = 0; i < api.widgets.length; i++) {
      if (api.widgets[i].position === widget.position) list.push(api.widgets[i]);
    }
    return list;
  }

  function mount(script) {
    script.setAttribute(MOUNTED, "");
    var spec = null;
    var id = "";
    for (var i = 0; i < KINDS.length; i++) {
      id = (script.getAttribute(KINDS[i].attr) || "").trim();
      if (id) {
        spec = KINDS[i];
        break;
      }
    }
    if (!spec) {
      if (window.console) {
        console.warn("Tollgate embed: add data-workflow-id, data-bundle-id or data-product-id to the script tag.");
      }
      return;
    }
    var origin = new URL(script.getAttribute("src"), document.baseURI).origin;
    var title = (script.getAttribute("data-title") || "").trim() || "Tollgate";
    var position = script.getAttribute("data-position") === "bottom-left" ? "bottom-left" : "bottom-right";
    var color = safeColor((script.getAttribute("data-color") || "").trim());
    var side = position === "bottom-left" ? "left" : "right";
    var src = origin + "/embed/" + spec.path + encodeURIComponent(id) + "?color=" + encodeURIComponent(color);

    var launcher = document.createElement("button");
    launcher.type = "button";
    launcher.className = "tollgate-embed-launcher";
    launcher.setAttribute("data-tollgate-kind", spec.kind);
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", "Open " + title);
    launcher.textContent = title;
    css(launcher, {
      position: "fixed",
      bottom: EDGE + "px",
      "z-index": Z,
      "max-width": "calc(100vw - 40px)",
      "min-height": "48px",
      padding: "0 20px",
      border: "0",
      "border-radius": "24px",
      background: color,
      color: "#fff",
      font: "600 15px/48px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
      "white-space": "nowrap",
      overflow: "hidden",
      "text-overflow": "ellipsis",
      cursor: "pointer",
      "box-shadow": "0 4px 14px rgba(0, 0, 0, 0.25)"
    });
    launcher.style.setProperty(side, EDGE + "px");

    var frame = null;
    var widget = {
      kind: spec.kind,
      id: id,
      title: title,
      position: position,
      launcher: launcher,
      isOpen: function () {
        return !!frame && frame.style.display !== "none";
      },
      open: function () {
        for (var j = 0; j < api.widgets.length; j++) {
          if (api.widgets[j] !== widget) api.widgets[j].close();
        }
        if (!frame) {
          frame = document.createElement("iframe");
          frame.className = "tollgate-embed-frame";
          frame.setAttribute("title", title);
          frame.setAttribute("src", src);
          frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
          frame.setAttribute("referrerpolicy", "strict-origin-when-cross-origin");
          css(frame, {
            position: "fixed",
            "z-index": Z,
            border: "0",
            "border-radius": "12px",
            background: "#fff",
            "box-shadow": "0 12px 40px rgba(0, 0, 0, 0.3)"
          });
          document.body.appendChild(frame);
        }
        place();
        frame.style.display = "block";
        launcher.setAttribute("aria-expanded", "true");
        launcher.setAttribute("aria-label", "Close " + title);
        launcher.textContent = "\u00d7 Close";
      },
      close: function () {
        if (!frame || frame.style.display === "none") return;
        frame.style.display = "none";
        launcher.setAttribute("aria-expanded", "false");
        launcher.setAttribute("aria-label", "Open " + title);
        launcher.textContent = title;
      },
      toggle: function () {
        if (widget.isOpen()) widget.close();
        else widget.open();
      }
    };

    // Launchers on one side stack upwards; an open frame sits above them,
    // filling a phone's screen or as a panel on a larger one.
    function place() {
      var stack = sameSide(widget);
      launcher.style.bottom = EDGE + stack.indexOf(widget) * LAUNCHER_GAP + "px";
      if (!frame) return;
      var above = EDGE + stack.length * LAUNCHER_GAP;
      var phone = window.matchMedia("(max-width: 480px)").matches;
      frame.style.bottom = above + "px";
      if (phone) {
        // A frame is a replaced element: left and right alone do not size it.
        frame.style.removeProperty("right");
        css(frame, {
          top: "8px",
          left: "8px",
          width: "calc(100vw - 16px)",
          height: "calc(100vh - " + (above + 8) + "px)"
        });
      } else {
        frame.style.removeProperty("top");
        frame.style.removeProperty(side === "left" ? "right" : "left");
        frame.style.setProperty(side, EDGE + "px");
        css(frame, { width: "400px", height: "min(620px, calc(100vh - " + (above + EDGE) + "px))" });
      }
    }

    launcher.addEventListener("click", widget.toggle);
    window.addEventListener("resize", place);
    api.widgets.push(widget);

    function attach() {
      document.body.appendChild(launcher);
      var stack = sameSide(widget);
      for (var k = 0; k < stack.length; k++) stack[k].launcher.dispatchEvent(new Event("tollgate:place"));
      place();
    }
    launcher.addEventListener("tollgate:place", place);
    if (document.body) attach();
    else document.addEventListener("DOMContentLoaded", attach);
  }

  var scripts = ownScripts();
  for (var s = 0; s < scripts.length; s++) mount(scripts[s]);
})();
