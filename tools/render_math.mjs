#!/usr/bin/env node
// Renders every TeX formula of a build in ONE node process with MathJax 4 (@mathjax/src): an SVG
// for print and MathML for the EPUB, from the same TeX input jax. MathJax loads once (~0.3 s);
// a formula then takes a few milliseconds. Nothing is fetched: @mathjax/src's node entry point
// loads its components and the font data from node_modules with import().
//
// Usage: node tools/render_math.mjs JOB.json   (or the job JSON on stdin)
// Job:   {"formulas": [{"id": "f1", "tex": "\\frac{a}{b}", "display": false}], "cjkCharWidth": 0.884}
// Output: one JSON line first, {"event": "ready", "mathjax": "4.1.3"}, then one per formula, in
//         job order: {"id", "svg", "mathml"} or {"id", "error"} (the TeX error, e.g. "Missing close brace").
// Logs go to stderr. Exit status 0 even when formulas fail: failures are per-formula results.
import { readFileSync } from "node:fs";
import MathJax from "@mathjax/src";

function readJob() {
  const source = process.argv[2] ? readFileSync(process.argv[2], "utf8") : readFileSync(0, "utf8");
  return JSON.parse(source);
}

function emit(record) {
  process.stdout.write(JSON.stringify(record) + "\n");
}

// Each formula must render the same whether it is rendered alone (the others are cached) or
// after the rest of the book: the cache is keyed by the formula alone. So a formula's
// \newcommand / \def lives only in that formula (a \begingroup opened before it and reset after),
// \global and \require (which would change later formulas) are refused, and so is anything that
// would leave that group from inside.
const GROUP_ESCAPES = /\\begingroup(?:Reset|Sandbox)(?![A-Za-z])/;

function count(text, pattern) {
  return (text.match(pattern) || []).length;
}

function escapesItsGroup(tex) {
  return GROUP_ESCAPES.test(tex)
    || count(tex, /\\endgroup(?![A-Za-z])/g) > count(tex, /\\begingroup(?![A-Za-z])/g);
}

// An equation with \tag becomes a table whose label MathJax puts at the edge of the line: an
// SVG 100% wide, drawn with nested <svg>s that only a browser places (WeasyPrint draws nothing).
// Such a row becomes an ordinary row with the label as its last cell, 2 em after the equation,
// and the formula is drawn again from that MathML: a fixed width, centred like any other.
// (MathML Core, which browsers implement, has no <mlabeledtr> either: the EPUB gets the same.)
const LABELED_ROW = /<mlabeledtr([^>]*)>\s*<mtd[^>]*>([\s\S]*?)<\/mtd>([\s\S]*?)<\/mlabeledtr>/g;

function labelsInline(mathml) {
  return mathml.replace(LABELED_ROW, (row, attributes, label, cells) =>
    `<mtr${attributes}>${cells}<mtd><mspace width="2em"></mspace>${label}</mtd></mtr>`);
}

async function main() {
  const job = readJob();
  try {
    await MathJax.init({
      loader: { load: ["input/tex", "input/mml", "output/svg", "[tex]/begingroup"] },
      tex: {
        // noundefined would draw an unknown macro in red instead of failing: we want the error.
        packages: { "[+]": ["begingroup"], "[-]": ["noundefined", "require"] },
        begingroup: { allowGlobal: [] },
        formatError: (jax, error) => { throw error; },
      },
      // fontCache none: every glyph is a <path> of its own, no <use> across formulas.
      // linebreaks.inline false: an inline formula stays one <svg> (MathJax 4 splits it otherwise).
      svg: { fontCache: "none", linebreaks: { inline: false } },
      // CJK text in \text{} is measured at this many em a character (MathJax draws it at 0.884 em).
      liteAdaptor: { cjkCharWidth: job.cjkCharWidth ?? 0.884 },
    });
  } catch (error) {
    emit({ event: "fatal", error: String((error && error.message) || error) });
    return;
  }
  const adaptor = MathJax.startup.adaptor;
  await MathJax.tex2mmlPromise("\\begingroupSandbox");
  emit({ event: "ready", mathjax: MathJax.version });
  for (const formula of job.formulas) {
    const options = { display: Boolean(formula.display) };
    try {
      if (escapesItsGroup(formula.tex)) {
        throw new Error("\\begingroupReset, \\begingroupSandbox and an \\endgroup without its \\begingroup "
                        + "are not allowed: each formula keeps its definitions to itself");
      }
      await MathJax.tex2mmlPromise("\\begingroupReset\\begingroup");
      let container = await MathJax.tex2svgPromise(formula.tex, options);
      await MathJax.tex2mmlPromise("\\begingroupReset\\begingroup");
      let mathml = await MathJax.tex2mmlPromise(formula.tex, options);
      if (mathml.includes("<mlabeledtr")) {
        mathml = labelsInline(mathml);
        container = await MathJax.mathml2svgPromise(mathml, options);
      }
      emit({ id: formula.id, svg: adaptor.serializeXML(adaptor.firstChild(container)), mathml });
    } catch (error) {
      emit({ id: formula.id, error: String((error && error.message) || error) });
    }
  }
}

await main();
