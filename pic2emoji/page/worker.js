// The emoji net for one band of the grid, in a Web Worker, so that the page stays responsive.
//
// Each frame: cells.onnx cuts the band's pixels into cells and gives each cell's view (its 6×6 block
// means); a cell whose view moved less than `change` (RMS, levels of 255) since it was last classified
// keeps its emoji without going through the net; the others go through net.onnx, which picks an emoji
// and keeps the one on screen unless the new one is clearly better (the steady rule, as
// Converter.steady in Python). A still camera then costs little and does not flicker; a moving one
// updates every cell it moves in the same frame. See onnx_export.py for the graphs.
//
// Messages: {type: "start", cells, net: URLs, threads, ep, change, patch, viewSize} -> {backend}
//           (patch: the net's cell size in px, viewSize: the numbers in a view; both from config.json)
//           {type: "frame", pixels: RGBA Uint8ClampedArray, width, height, k} -> {classes, netCells, ms}
// An error answers {error: "what went wrong"}.

let ort, cellsNet, emojiNet, change, bucket, patch, viewSize, band = null;

onmessage = async (event) => {
  const message = event.data;
  try {
    postMessage(message.type === "start" ? await start(message) : await frame(message));
  } catch (e) {
    postMessage({error: String((e && e.message) || e)});
  }
};

async function start({cells, net, threads, ep, change: rms, ...sizes}) {
  ({patch, viewSize} = sizes);
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
    band = {n, k, cols, up: upMatrix(k), classes: new Int32Array(n).fill(-1), views: new Float32Array(n * viewSize)};
  }
  const start = performance.now();
  const frameTensor = new ort.Tensor("uint8", new Uint8Array(pixels.buffer), [1, height, width, 4]);
  const {cells, view} = await cellsNet.run({frame: frameTensor, up: band.up});
  const cut = performance.now();
  const views = view.data, pixelsPerCell = 3 * k * k, moved = [];
  for (let i = 0; i < n; i++) {
    if (band.classes[i] < 0) { moved.push(i); continue; }
    let distance = 0;
    for (let j = i * viewSize, end = j + viewSize; j < end; j++) { const d = views[j] - band.views[j]; distance += d * d; }
    if (distance > change) moved.push(i);
  }
  if (moved.length) {
    const m = Math.ceil(moved.length / bucket) * bucket;  // the padding: blank cells, no previous emoji
    const some = new Float32Array(m * pixelsPerCell), someViews = new Float32Array(m * viewSize);
    const previous = new Int32Array(m).fill(-1);
    moved.forEach((i, j) => {
      some.set(cells.data.subarray(i * pixelsPerCell, (i + 1) * pixelsPerCell), j * pixelsPerCell);
      someViews.set(views.subarray(i * viewSize, (i + 1) * viewSize), j * viewSize);
      previous[j] = band.classes[i];
    });
    const out = await emojiNet.run({cells: new ort.Tensor("float32", some, [m, 3, k, k]), up: band.up,
                                    view: new ort.Tensor("float32", someViews, [m, viewSize]),
                                    previous: new ort.Tensor("int32", previous, [m])});
    const picked = out.class.data;
    moved.forEach((i, j) => {
      band.classes[i] = picked[j];
      band.views.set(someViews.subarray(j * viewSize, (j + 1) * viewSize), i * viewSize);
    });
  }
  return {classes: band.classes.slice(), netCells: moved.length, ms: {cells: cut - start, net: performance.now() - cut}};
}
