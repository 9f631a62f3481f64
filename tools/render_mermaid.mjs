#!/usr/bin/env node
// Renders many mermaid diagrams in ONE Chromium page (mermaid loads once; ~0.1 s a diagram
// instead of ~2 s for one mmdc per diagram).
//
// Usage: node tools/render_mermaid.mjs JOB.json   (or the job JSON on stdin)
// Job:   {"chromium": "/usr/bin/chromium", "mermaid": "/abs/mermaid.min.js", "config": {...},
//         "htmlConfig": {...}, "timeoutMs": 60000, "diagrams": [{"id": "m1a2b3c", "code": "flowchart ..."}]}
// Output: one JSON line per diagram on stdout, in job order:
//         {"id", "svg", "width", "height", "minFontPx", "converted", "htmlLabels",
//          "png" (base64, only when the SVG still has foreignObject), "error"}
//         preceded by {"event": "browser", "pid": N} so the caller can kill a hung browser.
//
// Each diagram is drawn with `config` (SVG <text> labels). When that fails after the source
// parsed (mermaid's SVG-text path cannot do some labels, e.g. a note holding a Markdown list:
// "splitLineToFitWidth does not support newlines"), or leaves <foreignObject> that cannot be
// converted, it is drawn again in the same page with `htmlConfig` (HTML labels, as mermaid draws
// by default). Simple HTML labels (text, <br>, inline emphasis, backgrounds) are measured in the
// page and replaced by SVG <text>/<tspan> at the position, size and colour Chromium laid them out
// with; only a diagram with a label that cannot be converted becomes a 2x PNG.
// Logs go to stderr. Exit status 0 even when diagrams fail: failures are per-diagram results.
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

// No network at all: a build must be reproducible offline and must not tell anyone it ran.
// puppeteer already passes --disable-background-networking, --disable-sync, --no-first-run and
// --disable-extensions; with those alone Chromium 156 still looked up accounts.google.com,
// clients2.google.com and update.googleapis.com on every cold render (strace). The switches
// below turn off what they can, and --host-resolver-rules is the hard stop for the rest: every
// host name resolves to NOTFOUND inside Chromium, so no DNS query leaves it and no TCP
// connection is opened. Nothing here needs a host name: the page is a string, mermaid is
// injected from a local file, and DevTools runs over a pipe (see launch), not a port.
// What remains in Chromium 156 (GAIA ListAccounts, the on-device-model manifest check) dies at
// that resolver; only its IPv6 reachability check connect()s a UDP socket to a public address,
// which picks a route and sends nothing. BOOK_CHROMIUM=/usr/bin/chromium-headless-shell has
// none of these services and makes no such call.
// --no-proxy-server: a proxy taken from the environment would be reached by address.
const CHROMIUM_FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--font-render-hinting=none",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
  "--disable-domain-reliability", "--no-pings", "--no-proxy-server", "--disable-default-apps",
  "--disable-extensions", "--no-default-browser-check", "--disable-breakpad", "--metrics-recording-only",
  // puppeteer merges this with its own list (Translate, MediaRouter, OptimizationHints, ...).
  "--disable-features=OptimizationHints,MediaRouter,AutofillServerCommunication,NetworkTimeServiceQuerying",
  "--host-resolver-rules=MAP * ~NOTFOUND",
];

const PAGE_HTML = `<!DOCTYPE html><html><head><meta charset="utf-8">
<style>body{margin:0;background:#fff;font-family:"Noto Sans CJK SC",sans-serif}
#stage{display:inline-block}</style></head><body><div id="stage"></div></body></html>`;

function readJob() {
  const source = process.argv[2] ? readFileSync(process.argv[2], "utf8") : readFileSync(0, "utf8");
  return JSON.parse(source);
}

function emit(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

function withTimeout(promise, ms, what, shownMs = ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${shownMs / 1000} s ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Installed once in the page (page.evaluate cannot pass helpers): HTML labels -> SVG text.
function installHelpers() {
  const SVG = "http://www.w3.org/2000/svg";
  const XHTML = "http://www.w3.org/1999/xhtml";
  // Elements whose text is laid out as plain inline text; anything else (images, lists,
  // tables, nested SVG, MathML) keeps its foreignObject, and so does generated content (an icon
  // font's ::before; without its CSS, which the page does not load, an icon <i> is empty).
  const INLINE_TEXT = new Set(["div", "span", "p", "br", "b", "strong", "i", "em", "u", "s", "del", "ins",
    "code", "small", "mark", "label", "a", "font", "tt", "kbd", "samp", "var", "cite", "q", "abbr"]);
  const ascents = new Map();
  const number = (value) => String(Math.round(value * 100) / 100);
  const transparent = (color) => !color || color === "transparent" || /rgba\([^)]*,\s*0\)$/.test(color);

  // Distance from the top of a text fragment's box to its baseline, for one font.
  function ascentOf(style) {
    const font = [style.fontStyle, style.fontWeight, style.fontSize, style.fontFamily].join(" ");
    if (!ascents.has(font)) {
      const outer = document.createElement("span");
      outer.style.cssText = "position:absolute;left:0;top:0;white-space:nowrap;line-height:normal";
      Object.assign(outer.style, { fontStyle: style.fontStyle, fontWeight: style.fontWeight,
        fontSize: style.fontSize, fontFamily: style.fontFamily });
      const text = document.createElement("span");
      text.textContent = "X";
      const probe = document.createElement("span");
      probe.style.cssText = "display:inline-block;width:0;height:0;vertical-align:baseline";
      outer.append(text, probe);
      document.body.append(outer);
      ascents.set(font, probe.getBoundingClientRect().bottom - text.getBoundingClientRect().top);
      outer.remove();
    }
    return ascents.get(font);
  }

  function convertible(fo) {
    for (const element of fo.querySelectorAll("*")) {
      if (element.namespaceURI !== XHTML || !INLINE_TEXT.has(element.localName)) return false;
      const style = getComputedStyle(element);
      if (style.transform !== "none" || style.backgroundImage !== "none" || style.writingMode !== "horizontal-tb") return false;
      if (style.display.startsWith("inline") && style.verticalAlign !== "baseline") return false;
      for (const side of ["Top", "Right", "Bottom", "Left"]) {
        if (parseFloat(style[`border${side}Width`]) > 0 && !["none", "hidden"].includes(style[`border${side}Style`])
            && !transparent(style[`border${side}Color`])) return false;
      }
      for (const pseudo of ["::before", "::after", "::marker"]) {
        const content = getComputedStyle(element, pseudo).content;
        if (content && content !== "none" && content !== "normal") return false;
      }
    }
    return true;
  }

  // Every visible character of the label, in document order, with its box and baseline.
  function characters(fo, clip) {
    const found = [];
    const range = document.createRange();
    const segmenter = new Intl.Segmenter();
    const walker = document.createTreeWalker(fo, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const element = node.parentElement;
      const style = getComputedStyle(element);
      if (style.visibility !== "visible" || style.display === "none") continue;
      const ascent = ascentOf(style);
      for (const { segment, index } of segmenter.segment(node.data)) {
        range.setStart(node, index);
        range.setEnd(node, index + segment.length);
        const rect = [...range.getClientRects()].find((r) => r.height > 0);
        if (!rect) continue;   // collapsed white space
        const space = /^\s+$/.test(segment);
        if (space && rect.width === 0) continue;
        const x = (rect.left + rect.right) / 2, y = (rect.top + rect.bottom) / 2;
        if (clip && (x < clip.left - 1 || x > clip.right + 1 || y < clip.top - 1 || y > clip.bottom + 1)) continue;
        found.push({ text: space ? " " : segment, left: rect.left, right: rect.right,
          baseline: rect.top + ascent, size: parseFloat(style.fontSize), style, element });
      }
    }
    return found;
  }

  // Characters -> lines (same baseline) -> runs (same element, hence same style).
  function lines(chars) {
    const result = [];
    for (const char of chars) {
      let line = result[result.length - 1];
      if (!line || Math.abs(char.baseline - line.baseline) > 0.3 * Math.max(char.size, line.size)
          || char.left < line.right - 0.5 * char.size) {
        line = { baseline: char.baseline, size: char.size, right: char.left, chars: [] };
        result.push(line);
      }
      line.chars.push(char);
      line.right = Math.max(line.right, char.right);
    }
    for (const line of result) {
      while (line.chars.length && line.chars[0].text === " ") line.chars.shift();
      while (line.chars.length && line.chars[line.chars.length - 1].text === " ") line.chars.pop();
    }
    return result.filter((line) => line.chars.length);
  }

  function fontStyle(style, scale) {
    const parts = [`font-family:${style.fontFamily}`, `font-size:${number(parseFloat(style.fontSize) / scale)}px`,
      `fill:${style.color}`];
    if (style.fontWeight !== "400") parts.push(`font-weight:${style.fontWeight}`);
    if (style.fontStyle !== "normal") parts.push(`font-style:${style.fontStyle}`);
    if (style.textDecorationLine !== "none") parts.push(`text-decoration:${style.textDecorationLine}`);
    if (style.letterSpacing !== "normal") parts.push(`letter-spacing:${number(parseFloat(style.letterSpacing) / scale)}px`);
    return parts.join(";");
  }

  // Replaces one foreignObject by a <g> of background <rect>s and one <text> per line.
  function convert(fo) {
    const parent = fo.parentNode;
    const matrix = parent.getScreenCTM && parent.getScreenCTM();
    if (!matrix || Math.abs(matrix.b) > 1e-9 || Math.abs(matrix.c) > 1e-9 || Math.abs(matrix.a - matrix.d) > 1e-6
        || matrix.a <= 0) return false;
    const inverse = matrix.inverse();
    const user = (x, y) => new DOMPoint(x, y).matrixTransform(inverse);
    const scale = matrix.a;
    const clip = getComputedStyle(fo).overflow === "visible" ? null : fo.getBoundingClientRect();
    const group = document.createElementNS(SVG, "g");
    group.setAttribute("class", "label-text");
    for (const element of fo.querySelectorAll("*")) {
      const color = getComputedStyle(element).backgroundColor;
      if (transparent(color)) continue;
      for (const box of element.getClientRects()) {
        let { left, top, right, bottom } = box;
        if (clip) {
          left = Math.max(left, clip.left); top = Math.max(top, clip.top);
          right = Math.min(right, clip.right); bottom = Math.min(bottom, clip.bottom);
        }
        if (right - left <= 0 || bottom - top <= 0) continue;
        const corner = user(left, top);
        const rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", number(corner.x));
        rect.setAttribute("y", number(corner.y));
        rect.setAttribute("width", number((right - left) / scale));
        rect.setAttribute("height", number((bottom - top) / scale));
        rect.setAttribute("style", `fill:${color};stroke:none`);
        group.append(rect);
      }
    }
    for (const line of lines(characters(fo, clip))) {
      const first = line.chars[0], last = line.chars[line.chars.length - 1];
      const align = getComputedStyle(first.element).textAlign;
      const anchor = /center/.test(align) ? "middle" : /right|end/.test(align) ? "end" : "start";
      const x = anchor === "middle" ? (first.left + last.right) / 2 : anchor === "end" ? last.right : first.left;
      const at = user(x, line.baseline);
      const text = document.createElementNS(SVG, "text");
      text.setAttribute("x", number(at.x));
      text.setAttribute("y", number(at.y));
      const base = fontStyle(first.style, scale);
      // dominant-baseline: a diagram's CSS may set it for its own labels; y here is the baseline.
      text.setAttribute("style", `${base};text-anchor:${anchor};dominant-baseline:auto`);
      let run = null;
      for (const char of line.chars) {
        if (!run || run.element !== char.element) {
          run = { element: char.element, style: fontStyle(char.style, scale), text: "" };
          const tspan = document.createElementNS(SVG, "tspan");
          if (run.style !== base) tspan.setAttribute("style", run.style);
          run.node = tspan;
          text.append(tspan);
        }
        // A second space in a row would collapse in SVG: keep it as a no-break space.
        run.text += char.text === " " && run.text.endsWith(" ") ? "\u00a0" : char.text;
        run.node.textContent = run.text;
      }
      group.append(text);
    }
    fo.replaceWith(group);
    return true;
  }

  // Converts every simple foreignObject of `svg`; returns how many were and how many are left.
  window.bookConvertForeignObjects = (svg) => {
    let converted = 0, remaining = 0;
    for (const fo of [...svg.querySelectorAll("foreignObject")]) {
      if (convertible(fo) && convert(fo)) converted += 1;
      else remaining += 1;
    }
    return { converted, remaining };
  };
  window.bookSetConfig = (config) => {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", ...config });
  };
}

async function openPage(browser, job) {
  const page = await browser.newPage();
  // Any request would be a CDN font or script: refuse it so a missing local file fails loudly.
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const url = request.url();
    if (url.startsWith("data:") || url === "about:blank") request.continue();
    else request.abort();
  });
  page.on("console", (msg) => { if (msg.type() === "error") process.stderr.write(`page: ${msg.text()}\n`); });
  // deviceScaleFactor 2: element screenshots are the 2x PNG fallback.
  await page.setViewport({ width: 1600, height: 1200, deviceScaleFactor: 2 });
  await page.setContent(PAGE_HTML);
  await page.addScriptTag({ path: job.mermaid });
  await page.evaluate(installHelpers);
  await page.evaluate((config) => window.bookSetConfig(config), job.config);
  return page;
}

// Runs in the page: parse first (it gives the clean syntax message), render, convert the
// foreignObjects it can, then give the SVG an absolute size so it never becomes width="100%".
async function renderInPage(id, code) {
  const stage = document.getElementById("stage");
  stage.innerHTML = "";
  const dropErrorSvg = () => {
    // mermaid leaves an error SVG (the "bomb") in the body on failure; drop it.
    document.querySelectorAll(`[id^="d${id}"], #${id}`).forEach((node) => node.remove());
  };
  const message = (error) => String((error && (error.message || error.str)) || error);
  try {
    await window.mermaid.parse(code);
  } catch (error) {
    dropErrorSvg();
    return { error: message(error), stage: "parse" };
  }
  try {
    const rendered = await window.mermaid.render(id, code, stage);
    stage.innerHTML = rendered.svg;
    const element = stage.querySelector("svg");
    const box = element.viewBox && element.viewBox.baseVal;
    let width = box && box.width ? box.width : element.getBBox().width;
    let height = box && box.height ? box.height : element.getBBox().height;
    width = Math.ceil(width * 100) / 100;
    height = Math.ceil(height * 100) / 100;
    element.setAttribute("width", String(width));
    element.setAttribute("height", String(height));
    element.style.removeProperty("max-width");
    // Measured at the size the SVG is written with, so the page coordinates map 1:1.
    const { converted, remaining } = window.bookConvertForeignObjects(element);
    // The smallest text decides whether a wide diagram can shrink to the text width.
    const sizes = [...element.querySelectorAll("text, foreignObject")]
      .filter((node) => node.textContent.trim() !== "")
      .map((node) => parseFloat(getComputedStyle(node).fontSize))
      .filter((size) => size > 0);
    const minFontPx = sizes.length ? Math.min(...sizes) : null;
    // XMLSerializer, not outerHTML: the result must be well-formed XML (EPUB, WeasyPrint).
    const svg = new XMLSerializer().serializeToString(element);
    return { svg, width, height, minFontPx, converted, foreign: remaining > 0 };
  } catch (error) {
    dropErrorSvg();
    return { error: message(error), stage: "render" };
  }
}

async function renderOne(page, diagram, job) {
  // One deadline for every attempt at this diagram.
  const deadline = Date.now() + job.timeoutMs;
  const what = `rendering diagram ${diagram.id}`;
  const inTime = (promise) => withTimeout(promise, Math.max(1, deadline - Date.now()), what, job.timeoutMs);
  const inPage = (fn, ...args) => inTime(page.evaluate(fn, ...args));
  const render = () => inPage(renderInPage, diagram.id, diagram.code);
  const first = await render();
  if ((!first.error && !first.foreign) || first.stage === "parse" || !job.htmlConfig) return first;
  // SVG-text labels failed or left foreignObject: mermaid's own HTML labels, converted.
  await inPage((config) => window.bookSetConfig(config), job.htmlConfig);
  const html = await render();
  await inPage((config) => window.bookSetConfig(config), job.config);
  if (!html.error && !html.foreign) return { ...html, htmlLabels: true };
  let shown = { ...html, htmlLabels: true };
  if (html.error) {
    if (first.error) return first;   // neither way draws it: the author's error is the first
    shown = await render();          // put the SVG-label drawing back on the stage
    if (shown.error) return shown;
  }
  const element = await page.$("#stage svg");
  const png = await inTime(element.screenshot({ encoding: "base64", omitBackground: false }));
  return { ...shown, png };
}

async function main() {
  const job = readJob();
  const profile = mkdtempSync(join(tmpdir(), "book-chromium-"));
  let browser;
  try {
    browser = await withTimeout(puppeteer.launch({
      executablePath: job.chromium, headless: true, args: CHROMIUM_FLAGS,
      // DevTools over fds 3 and 4 instead of a TCP port: no socket at all, so rendering
      // also works where loopback is down (a sandbox, `unshare -n`).
      pipe: true,
      userDataDir: profile, protocolTimeout: job.timeoutMs + 5000,
    }), job.timeoutMs + 30000, "starting Chromium");
    emit({ event: "browser", pid: browser.process()?.pid ?? null });
    const page = await openPage(browser, job);
    for (const diagram of job.diagrams) {
      try {
        emit({ id: diagram.id, ...(await renderOne(page, diagram, job)) });
      } catch (error) {
        // A hung diagram leaves the page busy; the caller decides whether to stop.
        emit({ id: diagram.id, error: String(error.message || error), timeout: /timed out/.test(String(error)) });
        break;
      }
    }
  } catch (error) {
    emit({ event: "fatal", error: String(error.message || error) });
  } finally {
    if (browser) {
      const child = browser.process();
      await withTimeout(browser.close(), 5000, "closing Chromium").catch(() => child?.kill("SIGKILL"));
    }
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
