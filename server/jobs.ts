/**
 * Slow ceremony steps (key generation, signing, saving, publishing) run as jobs: the POST that
 * starts one replies at once with its id, `GET /api/jobs/:id` reports it, and
 * `GET /api/jobs/:id/events` streams its progress. A job's result and error are the shapes the
 * API declares (shared/api.ts), built by the session from public facts only.
 */
import { randomBytes } from 'node:crypto';
import type { ApiError } from '../shared/errors.js';
import type { Job, JobKind, JobProgress } from '../shared/api.js';
import type { Progress } from './ceremony.js';
import { toApiError } from './errors.js';

export type JobResult = NonNullable<Job['result']>;

export type JobEvent = { type: 'progress'; progress: JobProgress } | { type: 'end'; job: Job };

type Listener = (e: JobEvent) => void;

/** How many finished jobs are kept for GET /api/jobs/:id. */
const KEEP_FINISHED = 50;

interface Entry {
  job: Job;
  listeners: Set<Listener>;
}

export class Jobs {
  readonly #jobs = new Map<string, Entry>();

  constructor(
    private readonly now: () => Date,
    /** Where the cause of an unexpected failure is logged (never sent). */
    private readonly logError: (err: unknown, jobId: string) => void,
  ) {}

  /** Starts `run` now; returns the job (status running) at once. */
  start(kind: JobKind, run: (progress: Progress) => Promise<JobResult>): Job {
    const id = randomBytes(16).toString('hex');
    const job: Job = { id, kind, status: 'running', progress: [], startedAt: this.now().toISOString() };
    const entry: Entry = { job, listeners: new Set() };
    this.#jobs.set(id, entry);
    this.#prune();
    const progress: Progress = (step, detail) => {
      if (job.status !== 'running') return;
      const p: JobProgress = { step, at: this.now().toISOString(), ...(detail !== undefined ? { detail } : {}) };
      job.progress.push(p);
      this.#emit(entry, { type: 'progress', progress: p });
    };
    // Run on a later turn so the POST replies before a synchronous-heavy step (RSA keygen) starts.
    setImmediate(() => {
      run(progress).then(
        (result) => this.#finish(entry, 'done', result, undefined),
        (err: unknown) => {
          const out = toApiError(err);
          if (out.internal) this.logError(err, id);
          this.#finish(entry, 'failed', undefined, out.body.error);
        },
      );
    });
    return job;
  }

  get(id: string): Job | undefined {
    return this.#jobs.get(id)?.job;
  }

  /** Calls `listener` for every future event of the job; returns the unsubscribe function. */
  subscribe(id: string, listener: Listener): () => void {
    const entry = this.#jobs.get(id);
    if (!entry) return () => {};
    entry.listeners.add(listener);
    return () => entry.listeners.delete(listener);
  }

  /** Resolves when the job is no longer running. */
  async wait(id: string): Promise<Job | undefined> {
    const job = this.get(id);
    if (!job || job.status !== 'running') return job;
    return new Promise((resolve) => {
      const off = this.subscribe(id, (e) => {
        if (e.type === 'end') {
          off();
          resolve(e.job);
        }
      });
    });
  }

  running(): Job | undefined {
    for (const { job } of this.#jobs.values()) if (job.status === 'running') return job;
    return undefined;
  }

  #finish(entry: Entry, status: 'done' | 'failed', result: JobResult | undefined, error: ApiError | undefined): void {
    const job = entry.job;
    job.status = status;
    job.finishedAt = this.now().toISOString();
    if (result) job.result = result;
    if (error) job.error = error;
    this.#emit(entry, { type: 'end', job });
    entry.listeners.clear();
  }

  #emit(entry: Entry, e: JobEvent): void {
    for (const l of [...entry.listeners]) {
      try {
        l(e);
      } catch {
        // A listener (a closed event stream) must not stop the job.
      }
    }
  }

  #prune(): void {
    const finished = [...this.#jobs.values()].filter((e) => e.job.status !== 'running');
    for (const e of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.#jobs.delete(e.job.id);
  }
}
