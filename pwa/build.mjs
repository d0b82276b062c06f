// Build the app into dist/: bundles with content-hashed names (esbuild), index.html
// pointing at them, the service worker with its precache manifest (Workbox
// injectManifest), and .br/.gz beside every text file for the server to send as is.
//
//   npm run build            (make setup runs it when a source or the lockfile changed)

import { build } from "esbuild";
import { injectManifest } from "workbox-build";
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, "dist");
// What cheap Android phones of the last years run (Chrome 80: CompressionStream, ES2020).
const TARGET = ["chrome80", "firefox80", "safari15"];
const COMPRESSIBLE = /\.(js|css|html|webmanifest|json|svg)$/;
const HASHED = /-[A-Z0-9]{8}\./;

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const app = await build({
  absWorkingDir: root,
  entryPoints: { app: "src/main.js" },
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: TARGET,
  charset: "utf8", // Chinese text stays UTF-8 (3 bytes) instead of \uXXXX escapes (6)
  legalComments: "none",
  outdir: out,
  entryNames: "assets/[name]-[hash]",
  chunkNames: "assets/[name]-[hash]",
  assetNames: "assets/[name]-[hash]",
  metafile: true,
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});

let script = null;
let style = null;
for (const [file, meta] of Object.entries(app.metafile.outputs)) {
  if (meta.entryPoint === "src/main.js") {
    script = "/" + relative(out, join(root, file));
    if (meta.cssBundle) style = "/" + relative(out, join(root, meta.cssBundle));
  }
}
const template = await readFile(join(root, "src/index.html"), "utf8");
await writeFile(
  join(out, "index.html"),
  template.replace("%APP_JS%", script).replace("%APP_CSS%", style ?? ""),
);
await cp(join(root, "public"), out, { recursive: true });

// The service worker: bundled on its own (no hash: its URL must stay put), then Workbox
// writes the list of files to precache, each with its revision, into it.
await build({
  absWorkingDir: root,
  entryPoints: ["src/sw.js"],
  bundle: true,
  format: "iife",
  minify: true,
  target: TARGET,
  outfile: join(out, "sw.js"),
  define: { "process.env.NODE_ENV": '"production"' },
  legalComments: "none",
  logLevel: "warning",
});
const precached = await injectManifest({
  swSrc: join(out, "sw.js"),
  swDest: join(out, "sw.js"),
  globDirectory: out,
  globPatterns: ["index.html", "assets/*", "manifest.webmanifest", "icons/*"],
  globIgnores: ["**/*.gz", "**/*.br"],
  // Hashed names are their own revision: Workbox need not add one to the URL.
  dontCacheBustURLsMatching: HASHED,
});

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

let total = 0;
for await (const path of files(out)) {
  if (!COMPRESSIBLE.test(path)) continue;
  const body = await readFile(path);
  if (body.length < 256) continue;
  const br = brotliCompressSync(body, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  await writeFile(path + ".br", br);
  await writeFile(path + ".gz", gzipSync(body, { level: 9 }));
  total += (await stat(path)).size;
}
console.log(
  `pwa: built ${script} ${style ?? ""}; ${precached.count} files precached ` +
    `(${(precached.size / 1024).toFixed(0)} KiB), ${(total / 1024).toFixed(0)} KiB of text compressed`,
);
