// One microphone recording with a live level meter and a timer: getUserMedia, MediaRecorder
// (WebM/Opus where the browser has it; the server decodes any of these) and an AnalyserNode.

const TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];

export function formatSeconds(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class Recorder {
  /** `meter` (a <meter>) shows the level; `onTick(seconds)` is called as time passes. */
  constructor({ meter, onTick = () => {} }) {
    this.meter = meter;
    this.onTick = onTick;
    this.active = false;
  }

  async start() {
    // Browser noise suppression and echo cancellation smear a voice; cloning wants it plain.
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false },
    });
    const mimeType = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
    this.recorder = new MediaRecorder(this.stream, mimeType ? { mimeType } : {});
    this.chunks = [];
    this.recorder.addEventListener("dataavailable", (e) => e.data.size && this.chunks.push(e.data));
    this.context = new AudioContext();
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 2048;
    this.context.createMediaStreamSource(this.stream).connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    this.recorder.start(250);
    this.startedAt = performance.now();
    this.active = true;
    this.timer = setInterval(() => this._tick(), 100); // keeps time in a background tab too
  }

  /** Seconds since start. */
  get elapsed() {
    return this.active ? (performance.now() - this.startedAt) / 1000 : this.lastElapsed || 0;
  }

  /** Stops everything and gives the recording as a File named for its format. */
  async stop() {
    if (!this.active) return null;
    this.lastElapsed = this.elapsed;
    this.active = false;
    clearInterval(this.timer);
    const stopped = new Promise((resolve) => this.recorder.addEventListener("stop", resolve, { once: true }));
    this.recorder.stop();
    await stopped;
    this.stream.getTracks().forEach((t) => t.stop());
    await this.context.close();
    this.meter.value = 0;
    const type = this.recorder.mimeType || "audio/webm";
    const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    return new File(this.chunks, `recording.${extension}`, { type });
  }

  _tick() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const x of this.samples) sum += x * x;
    const db = 10 * Math.log10(sum / this.samples.length + 1e-12);
    this.meter.value = Math.min(1, Math.max(0, (db + 60) / 60)); // -60 dBFS .. 0 dBFS
    this.onTick(this.elapsed);
  }
}
