// Renders /openapi.json as a readable page: operations grouped by tag, with
// their parameters, request bodies, responses and schemas. Everything is
// built with DOM calls and textContent; nothing from the document is parsed
// as HTML.
"use strict";

(function () {
  const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
  let doc = null;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") node.className = v;
      else node.setAttribute(k, v);
    }
    for (const c of [].concat(children || [])) {
      if (c === undefined || c === null || c === false) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  // Text with `code` spans.
  function rich(text, cls) {
    const node = el("span", { class: cls });
    String(text || "").split(/(`[^`]+`)/).forEach(function (part) {
      if (part.length > 2 && part[0] === "`" && part[part.length - 1] === "`") {
        node.appendChild(el("code", {}, part.slice(1, -1)));
      } else if (part) {
        node.appendChild(document.createTextNode(part));
      }
    });
    return node;
  }

  function resolve(schema) {
    let seen = 0;
    while (schema && schema.$ref && seen < 20) {
      const parts = schema.$ref.replace(/^#\//, "").split("/");
      let target = doc;
      for (const p of parts) target = target ? target[p] : undefined;
      schema = target;
      seen += 1;
    }
    return schema || {};
  }

  function refName(schema) {
    return schema && schema.$ref ? schema.$ref.split("/").pop() : null;
  }

  function typeLabel(schema) {
    if (!schema) return "any";
    if (schema.$ref) return refName(schema);
    if (schema.oneOf || schema.anyOf) {
      return (schema.oneOf || schema.anyOf).map(typeLabel).join(" | ");
    }
    if (schema.allOf) return schema.allOf.map(typeLabel).join(" & ");
    let t = schema.type;
    if (Array.isArray(t)) t = t.join(" | ");
    if (t === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
      return String(t).replace("array", typeLabel(schema.items) + "[]");
    }
    if (schema.enum) return schema.enum.map(function (v) { return JSON.stringify(v); }).join(" | ");
    if (!t) return "any";
    return schema.format ? t + " (" + schema.format + ")" : t;
  }

  // The properties of an object schema, following $ref, allOf and the
  // non-null branch of a nullable oneOf.
  function objectOf(schema) {
    schema = resolve(schema);
    if (schema.allOf) {
      const merged = { properties: {}, required: [] };
      schema.allOf.forEach(function (s) {
        const o = objectOf(s);
        if (o) {
          Object.assign(merged.properties, o.properties || {});
          merged.required = merged.required.concat(o.required || []);
        }
      });
      return merged;
    }
    const branches = schema.oneOf || schema.anyOf;
    if (branches) {
      const real = branches.filter(function (b) { return resolve(b).type !== "null"; });
      if (real.length === 1) return objectOf(real[0]);
      return null;
    }
    if (schema.properties) return schema;
    return null;
  }

  function itemsOf(schema) {
    schema = resolve(schema);
    const branches = schema.oneOf || schema.anyOf;
    if (branches) {
      const real = branches.filter(function (b) { return resolve(b).type !== "null"; });
      if (real.length === 1) return itemsOf(real[0]);
    }
    const isArray = schema.type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"));
    return isArray ? schema.items : null;
  }

  function schemaTree(schema, depth, stack) {
    const list = el("ul");
    const obj = objectOf(schema);
    if (!obj) {
      const items = itemsOf(schema);
      if (items && depth < 8) {
        list.appendChild(el("li", {}, [el("span", { class: "fname" }, "[ ]"), " ",
          el("span", { class: "ftype" }, typeLabel(items)), schemaTree(items, depth + 1, stack)]));
        return objectOf(items) || itemsOf(items) ? list : null;
      }
      return null;
    }
    const required = new Set(obj.required || []);
    for (const [name, prop] of Object.entries(obj.properties || {})) {
      const resolved = resolve(prop);
      const li = el("li", {}, [
        el("span", { class: "fname" }, name), " ",
        el("span", { class: "ftype" }, typeLabel(prop)),
        required.has(name) ? el("span", { class: "freq" }, " required") : null,
      ]);
      const desc = prop.description || resolved.description;
      if (desc) { li.appendChild(document.createTextNode(" — ")); li.appendChild(rich(desc, "fdesc")); }
      if (resolved.enum && !prop.enum && resolved.type !== undefined) {
        li.appendChild(el("span", { class: "fdesc" }, " one of " + resolved.enum.map(function (v) { return JSON.stringify(v); }).join(", ")));
      }
      const name2 = refName(prop) || refName(itemsOf(prop) || {});
      if (depth < 8 && !(name2 && stack.includes(name2))) {
        const sub = schemaTree(prop, depth + 1, name2 ? stack.concat([name2]) : stack);
        if (sub) li.appendChild(sub);
      }
      list.appendChild(li);
    }
    return list;
  }

  function schemaBlock(schema) {
    const box = el("div", { class: "schema" });
    const name = refName(schema);
    box.appendChild(el("div", {}, [el("span", { class: "ftype" }, typeLabel(schema)),
      name ? el("span", { class: "ref" }, "  (schema " + name + ")") : null]));
    const desc = resolve(schema).description;
    if (desc && name) box.appendChild(rich(desc, "fdesc"));
    const tree = schemaTree(schema, 0, name ? [name] : []);
    if (tree) box.appendChild(tree);
    return box;
  }

  function content(contentMap) {
    const out = [];
    for (const [type, media] of Object.entries(contentMap || {})) {
      out.push(el("div", { class: "mono summary" }, type));
      if (media.schema) out.push(schemaBlock(media.schema));
    }
    return out;
  }

  function operation(path, method, op) {
    const id = "op-" + method + "-" + path.replace(/[^A-Za-z0-9]+/g, "-");
    const secured = (op.security || doc.security || []).some(function (s) { return Object.keys(s).length > 0; });
    const details = el("details", { class: "op", id: id });
    details.dataset.search = [method, path, op.summary, op.description, (op.tags || []).join(" ")].join(" ").toLowerCase();
    details.appendChild(el("summary", {}, [
      el("span", { class: "method " + method }, method),
      el("span", { class: "path" }, path),
      el("span", { class: "summary" }, op.summary || ""),
      el("span", { class: "lock" }, secured ? "🔒 bearer" : "no auth"),
    ]));
    const body = el("div", { class: "body" });
    if (op.description && op.description !== op.summary) body.appendChild(el("p", { class: "desc" }, [rich(op.description)]));

    const params = (op.parameters || []).map(function (p) { return resolve(p); });
    if (params.length) {
      body.appendChild(el("h4", {}, "Parameters"));
      const table = el("table", {}, el("tr", {}, [el("th", {}, "Name"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Required"), el("th", {}, "Description")]));
      params.forEach(function (p) {
        table.appendChild(el("tr", {}, [
          el("td", { class: "mono" }, p.name), el("td", {}, p.in),
          el("td", { class: "mono" }, typeLabel(p.schema)), el("td", {}, p.required ? "yes" : "no"),
          el("td", {}, [rich(p.description || "")]),
        ]));
      });
      body.appendChild(table);
    }

    if (op.requestBody) {
      const rb = resolve(op.requestBody);
      body.appendChild(el("h4", {}, "Request body" + (rb.required ? " (required)" : "")));
      if (rb.description) body.appendChild(el("p", { class: "desc" }, [rich(rb.description)]));
      content(rb.content).forEach(function (n) { body.appendChild(n); });
    }

    body.appendChild(el("h4", {}, "Responses"));
    const table = el("table", {}, el("tr", {}, [el("th", {}, "Status"), el("th", {}, "Description and body")]));
    for (const [status, r0] of Object.entries(op.responses || {})) {
      const r = resolve(r0);
      const cell = el("td", {}, [el("div", {}, [rich(r.description || "")])].concat(content(r.content)));
      table.appendChild(el("tr", {}, [el("td", { class: "status s" + status[0] }, status), cell]));
    }
    body.appendChild(table);
    details.appendChild(body);
    return details;
  }

  function render() {
    document.title = (doc.info.title || "API") + " API docs";
    document.getElementById("title").textContent = (doc.info.title || "API") + " API";
    document.getElementById("version").textContent = "version " + (doc.info.version || "?") + " · OpenAPI " + doc.openapi;
    const main = document.getElementById("content");
    const toc = document.getElementById("toc");
    main.textContent = "";
    toc.textContent = "";

    const intro = el("section", { class: "intro" });
    if (doc.info.description) intro.appendChild(el("p", {}, [rich(doc.info.description)]));
    if (doc.servers && doc.servers.length) {
      intro.appendChild(el("p", {}, ["Server: ", el("code", {}, doc.servers[0].url)]));
    }
    main.appendChild(intro);

    const groups = new Map();
    (doc.tags || []).forEach(function (t) { groups.set(t.name, { tag: t, ops: [] }); });
    for (const [path, item] of Object.entries(doc.paths || {})) {
      METHODS.forEach(function (m) {
        if (!item[m]) return;
        const tag = (item[m].tags && item[m].tags[0]) || "Other";
        if (!groups.has(tag)) groups.set(tag, { tag: { name: tag }, ops: [] });
        groups.get(tag).ops.push([path, m, item[m]]);
      });
    }
    for (const { tag, ops } of groups.values()) {
      if (!ops.length) continue;
      const section = el("section", { class: "tag" }, [el("h2", {}, tag.name)]);
      if (tag.description) section.appendChild(el("p", {}, [rich(tag.description)]));
      toc.appendChild(el("h3", {}, tag.name));
      ops.forEach(function ([path, m, op]) {
        const node = operation(path, m, op);
        section.appendChild(node);
        const link = el("a", { href: "#" + node.id }, [el("span", { class: "method " + m }, m), el("span", { class: "path" }, path)]);
        link.dataset.search = node.dataset.search;
        link.addEventListener("click", function () { node.open = true; });
        toc.appendChild(link);
      });
      main.appendChild(section);
    }

    const schemas = (doc.components && doc.components.schemas) || {};
    const section = el("section", { class: "tag", id: "schemas" }, [el("h2", {}, "Schemas")]);
    toc.appendChild(el("h3", {}, "Schemas"));
    Object.keys(schemas).forEach(function (name) {
      const d = el("details", { class: "op", id: "schema-" + name });
      d.dataset.search = ("schema " + name + " " + (schemas[name].description || "")).toLowerCase();
      d.appendChild(el("summary", {}, [el("span", { class: "path" }, name)]));
      d.appendChild(el("div", { class: "body" }, [schemaBlock({ $ref: "#/components/schemas/" + name })]));
      section.appendChild(d);
      const link = el("a", { href: "#schema-" + name }, [el("span", { class: "path" }, name)]);
      link.dataset.search = d.dataset.search;
      link.addEventListener("click", function () { d.open = true; });
      toc.appendChild(link);
    });
    main.appendChild(section);

    if (location.hash) {
      const target = document.getElementById(location.hash.slice(1));
      if (target && target.tagName === "DETAILS") { target.open = true; target.scrollIntoView(); }
    }
  }

  function filter(text) {
    const q = text.trim().toLowerCase();
    document.querySelectorAll("[data-search]").forEach(function (node) {
      node.classList.toggle("hidden", q !== "" && !node.dataset.search.includes(q));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("filter").addEventListener("input", function (e) { filter(e.target.value); });
    fetch("/openapi.json", { headers: { accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("GET /openapi.json answered " + r.status);
        return r.json();
      })
      .then(function (d) { doc = d; render(); })
      .catch(function (e) {
        document.getElementById("status").textContent = "Could not load the API document: " + e.message;
      });
  });
})();
