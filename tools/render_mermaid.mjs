#!/usr/bin/env node
// Renders many mermaid diagrams in ONE Chromium page (mermaid loads once; ~0.1 s a diagram
// instead of ~2 s for one mmdc per diagram).
//
// Usage: node tools/render_mermaid.mjs JOB.json   (or the job JSON on stdin)
// Job:   {"chromium": "/usr/bin/chromium", "mermaid": "/abs/mermaid.min.js", "config": {...},
//         "timeoutMs": 60000, "diagrams": [{"id": "m1a2b3c", "code": "flowchart ..."}]}
// Output: one JSON line per diagram on stdout, in job order:
//         {"id", "svg", "width", "height", "png" (base64, only when the SVG has foreignObject), "error"}
//         preceded by {"event": "browser", "pid": N} so the caller can kill a hung browser.
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

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
  await page.evaluate((config) => {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", ...config });
  }, job.config);
  return page;
}

// Runs in the page: parse first (it gives the clean syntax message), render, then give the
// SVG an absolute size so it never becomes width="100%" in a book.
async function renderInPage(id, code) {
  const stage = document.getElementById("stage");
  stage.innerHTML = "";
  try {
    await window.mermaid.parse(code);
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
    // The smallest text decides whether a wide diagram can shrink to the text width.
    const sizes = [...element.querySelectorAll("text, foreignObject")]
      .filter((node) => node.textContent.trim() !== "")
      .map((node) => parseFloat(getComputedStyle(node).fontSize))
      .filter((size) => size > 0);
    const minFontPx = sizes.length ? Math.min(...sizes) : null;
    // XMLSerializer, not outerHTML: the result must be well-formed XML (EPUB, WeasyPrint).
    const svg = new XMLSerializer().serializeToString(element);
    return { svg, width, height, minFontPx, foreign: element.querySelector("foreignObject") !== null };
  } catch (error) {
    // mermaid leaves an error SVG (the "bomb") in the body on failure; drop it.
    document.querySelectorAll(`[id^="d${id}"], #${id}`).forEach((node) => node.remove());
    return { error: String((error && (error.message || error.str)) || error) };
  }
}

async function renderOne(page, diagram, timeoutMs) {
  const result = await withTimeout(page.evaluate(renderInPage, diagram.id, diagram.code),
    timeoutMs, `rendering diagram ${diagram.id}`);
  if (result.error || !result.foreign) return result;
  const element = await page.$("#stage svg");
  const png = await element.screenshot({ encoding: "base64", omitBackground: false });
  return { ...result, png };
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
        emit({ id: diagram.id, ...(await renderOne(page, diagram, job.timeoutMs)) });
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
