/** The process's memory during a run: before, peak and after, for the load run's figures. */
import v8 from 'node:v8';
import vm from 'node:vm';

/** Samples the process's memory while work runs. */
export class MemorySampler {
  readonly before = process.memoryUsage();
  peakRss = this.before.rss;
  peakHeap = this.before.heapUsed;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 50) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): NodeJS.MemoryUsage {
    const now = process.memoryUsage();
    this.peakRss = Math.max(this.peakRss, now.rss);
    this.peakHeap = Math.max(this.peakHeap, now.heapUsed);
    return now;
  }

  /** Stops sampling; collects garbage first (enabling gc at run time), then samples. */
  stop(): NodeJS.MemoryUsage {
    clearInterval(this.timer);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    // Contexts made later (the edge rewrite's sandbox) must not see gc again.
    v8.setFlagsFromString('--no-expose-gc');
    gc();
    return this.sample();
  }
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
