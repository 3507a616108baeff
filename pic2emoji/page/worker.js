// The emoji net for one band of the grid, in a Web Worker, so that the page stays responsive.
//
// Each frame: cells.onnx cuts the band's pixels into cells and gives each cell's view (its 6×6 block
// means); a cell whose view moved less than `change` (RMS, levels of 255) since the net last judged it
// keeps its emoji. Of the others, those that moved most go through net.onnx, which picks an emoji and
// keeps the one on screen unless the new one is clearly better (the steady rule, as Converter.steady in
// Python) — at most `share` of the band's cells a frame on average, the budget saved up to a whole band,
// so that a change after a still spell goes through the net at once. The rest follow: each takes, among
// the classes the net last rated highest for it and those its eight neighbours show (what moved into a
// cell came from one of them), the one whose view is nearest its own, by the same steady rule. Then
// every cell that moved is touched up for colour (touch.js: refine's ICM, one sweep). A still camera
// then costs little and does not flicker; a moving one updates every cell it moves in the same frame,
// at a sixth of the net's work. Once the camera is still, the page settles the grid (settle.js) in a
// spare worker, this same file started with `settle`: it takes the bands' state, and each band adopts
// its part unless a cell of it moved meanwhile. live.py is the same in Python (tests and
// benchmarks/live_follow.py hold the page to it); see onnx_export.py for the graphs.
//
// Messages: {type: "start", cells, net, views, colours: URLs, threads, ep, change, share,
//            steady: {margin, noise}, touch: live.TouchUp's settings, patch, viewSize} -> {backend}
//           (patch: the net's cell size in px, viewSize: the numbers in a view; all from config.json;
//           with settle: {...config.settle, allowed: the palette's classes}, a settling worker: no nets)
//           {type: "frame", pixels: RGBA Uint8ClampedArray, width, height, k} -> {classes, netCells, moved, ms}
//           {type: "state"} -> {views, start: the net's pick of each cell, classes, frame: its number}
//           {type: "adopt", classes, frame} -> {adopted: whether no cell moved since that frame}
//           {type: "settle", views, start, classes, rows, cols} -> {classes, ms} (a settling worker)
// An error answers {error: "what went wrong"}. Messages are handled one at a time, in order.

import {Settle} from "./settle.js";
import {TouchUp} from "./touch.js";

let ort, cellsNet, emojiNet, classViews, touch, settler, change, share, steady, bucket, patch, viewSize, band = null;
let queue = Promise.resolve();
const handlers = {start, frame, state, adopt, settle};

onmessage = (event) => {
  const message = event.data;
  queue = queue.then(async () => {  // one at a time: an answer never overtakes an earlier one
    try {
      postMessage(await handlers[message.type](message));
    } catch (e) {
      postMessage({error: String((e && e.message) || e)});
    }
  });
};

async function start({cells, net, views, colours, threads, ep, change: rms, settle: ladder, ...settings}) {
  ({patch, viewSize, share, steady} = settings);
  const [viewBytes, tableBytes] = await Promise.all([views, colours].map(async (url) => {
    const answer = await fetch(url);
    if (!answer.ok) throw new Error(`${url}: ${answer.status} ${answer.statusText}`);
    return answer.arrayBuffer();
  }));
  classViews = new Float32Array(viewBytes);  // (classes, viewSize), little-endian as x86 and ARM
  touch = new TouchUp(classViews, new Int32Array(tableBytes), settings.touch, viewSize);
  if (ladder) {
    settler = new Settle(touch, ladder, ladder.allowed);
    return {backend: "settle"};
  }
  ort = await import(ep === "webgpu" ? "./ort/ort.webgpu.min.mjs" : "./ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = threads;  // before the first session: it is fixed from then on
  const options = {executionProviders: ep === "webgpu" ? ["webgpu", "wasm"] : ["wasm"], graphOptimizationLevel: "all"};
  [cellsNet, emojiNet] = await Promise.all([ort.InferenceSession.create(cells, options), ort.InferenceSession.create(net, options)]);
  change = rms * rms * viewSize;  // squared distance over the numbers of a view
  // WebGPU compiles its kernels per input shape: the cells to classify are padded to a multiple of 256
  // so that a few shapes serve all frames. wasm runs any shape as fast: no padding.
  bucket = ep === "webgpu" ? 256 : 1;
  return {backend: ep};
}

// up (patch, k): 1 where output pixel j takes source pixel floor((j + ½)·k / patch), as pixels.nearest_pattern.
function upMatrix(k) {
  const up = new Float32Array(patch * k);
  for (let j = 0; j < patch; j++) up[j * k + Math.floor((2 * j + 1) * k / (2 * patch))] = 1;
  return new ort.Tensor("float32", up, [patch, k]);
}

async function frame({pixels, width, height, k}) {
  const cols = width / k, rows = height / k, n = rows * cols;
  if (!band || band.n !== n || band.k !== k || band.cols !== cols) {  // a new grid: every cell afresh
    band = {n, k, cols, up: upMatrix(k), classes: new Int32Array(n).fill(-1), views: new Float32Array(n * viewSize),
            top: null, credit: n, frame: 0, movedAt: 0, last: null};
  }
  const start = performance.now();
  const frameTensor = new ort.Tensor("uint8", new Uint8Array(pixels.buffer), [1, height, width, 4]);
  const {cells, view} = await cellsNet.run({frame: frameTensor, up: band.up});
  const cut = performance.now();
  const views = view.data, {moved, judged, rest} = triage(views, n);
  band.last = views;
  band.frame++;
  if (moved.length) band.movedAt = band.frame;
  if (judged.length) await judge(judged, cells.data, views, k, 3 * k * k);
  const followed = performance.now();
  follow(rest, views);
  const touched = performance.now();
  if (moved.length) touch.run(views, band.classes, band.top, band.top.length / n, cols, moved);
  return {classes: band.classes.slice(), netCells: judged.length, moved: moved.length,
          ms: {cells: cut - start, net: followed - cut, follow: touched - followed, touch: performance.now() - touched}};
}

// What settling needs of the band: the cells' views this frame, the net's own pick for each (its best
// class when it last judged the cell), what the band shows.
function state() {
  const t = band.top.length / band.n;
  return {views: band.last.slice(), start: Int32Array.from({length: band.n}, (_, i) => band.top[i * t]),
          classes: band.classes.slice(), frame: band.frame};
}

// The band's part of a settled grid, unless a cell moved after the frame it was settled from.
function adopt({classes, frame: settledFrom}) {
  if (!band || band.movedAt > settledFrom || classes.length !== band.n) return {adopted: false};
  band.classes.set(classes);
  return {adopted: true};
}

// A settling worker's: the grid to show on a still camera (settle.js).
function settle({views, start, classes, rows, cols}) {
  const begin = performance.now(), settled = settler.run(views, start, classes, rows, cols);
  return {classes: settled, ms: performance.now() - begin};
}

// The cells that moved (their view more than `change` from the one the net last judged them by, and all
// new ones), and which of them the net judges this frame: those that moved most, as many as the budget
// allows (new ones always), the rest left to follow (live.live_frame).
function triage(views, n) {
  const moved = [], distance = new Float64Array(n);
  let fresh = 0;
  for (let i = 0; i < n; i++) {
    if (band.classes[i] < 0) { distance[i] = Infinity; moved.push(i); fresh++; continue; }
    let d = 0;
    for (let j = i * viewSize, end = j + viewSize; j < end; j++) { const e = views[j] - band.views[j]; d += e * e; }
    distance[i] = d;
    if (d > change) moved.push(i);
  }
  band.credit = Math.min(band.credit + share * n, n);  // saved up to one whole band
  const count = moved.length > band.credit ? Math.max(Math.floor(band.credit), fresh) : moved.length;
  const order = moved.slice().sort((a, b) => (distance[a] === distance[b] ? 0 : distance[b] - distance[a]));  // stable
  band.credit = Math.max(band.credit - count, 0);
  return {moved, judged: order.slice(0, count).sort((a, b) => a - b), rest: order.slice(count).sort((a, b) => a - b)};
}

// The net on the cells `which`: their emoji by the steady rule, their views and top classes kept.
async function judge(which, pixels, views, k, pixelsPerCell) {
  const m = Math.ceil(which.length / bucket) * bucket;  // the padding: blank cells, no previous emoji
  const some = new Float32Array(m * pixelsPerCell), someViews = new Float32Array(m * viewSize);
  const previous = new Int32Array(m).fill(-1);
  which.forEach((i, j) => {
    some.set(pixels.subarray(i * pixelsPerCell, (i + 1) * pixelsPerCell), j * pixelsPerCell);
    someViews.set(views.subarray(i * viewSize, (i + 1) * viewSize), j * viewSize);
    previous[j] = band.classes[i];
  });
  const out = await emojiNet.run({cells: new ort.Tensor("float32", some, [m, 3, k, k]), up: band.up,
                                  view: new ort.Tensor("float32", someViews, [m, viewSize]),
                                  previous: new ort.Tensor("int32", previous, [m])});
  const picked = out.class.data, top = out.top.data, t = out.top.dims[1];
  band.top = band.top || new Int32Array(band.n * t);
  which.forEach((i, j) => {
    band.classes[i] = picked[j];
    band.views.set(someViews.subarray(j * viewSize, (j + 1) * viewSize), i * viewSize);
    band.top.set(top.subarray(j * t, (j + 1) * t), i * t);
  });
}

// The cells that moved but skip the net this frame (live.follow): each takes, among its own top classes
// and what its eight neighbours show, the one whose view is nearest its own, unless the one it shows is
// within the steady margin of it. All of them read the grid as the net left it.
function follow(which, views) {
  if (!which.length) return;
  const {cols, n, classes, top} = band, rows = n / cols, t = top.length / n, picks = new Int32Array(which.length);
  const candidates = new Int32Array(t + 8);
  // The squared distance of class c's view to the cell's at `at`, or a number above `bound` once it is.
  const distance = (c, at, bound) => {
    let d = 0;
    for (let j = 0, v = c * viewSize; j < viewSize; j++) {
      const e = classViews[v + j] - views[at + j];
      d += e * e;
      if (d > bound) break;  // a sum of squares only grows: this one is out
    }
    return d;
  };
  which.forEach((i, w) => {
    const r = Math.floor(i / cols), c = i % cols, at = i * viewSize;
    candidates.set(top.subarray(i * t, (i + 1) * t));
    let m = t;
    for (let dr = -1; dr <= 1; dr++) {
      for (let dc = -1; dc <= 1; dc++) {
        if (dr || dc) candidates[m++] = classes[Math.min(Math.max(r + dr, 0), rows - 1) * cols + Math.min(Math.max(c + dc, 0), cols - 1)];
      }
    }
    let best = candidates[0], nearest = Infinity;
    for (let a = 0; a < m; a++) {
      const candidate = candidates[a];
      if (candidates.subarray(0, a).includes(candidate)) continue;  // the first of equals wins ties anyway
      const d = distance(candidate, at, nearest);
      if (d < nearest) { best = candidate; nearest = d; }
    }
    const bound = nearest * (1 + steady.margin) + steady.noise;
    picks[w] = distance(classes[i], at, bound) <= bound ? classes[i] : best;
  });
  which.forEach((i, w) => { classes[i] = picks[w]; });
}
