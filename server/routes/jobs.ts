import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { getJob, jobEvents } from '../../shared/api.js';
import { jobSchema } from '../../shared/api/jobs.js';
import type { Job, ParamsOf, ReplyOf } from '../../shared/api.js';
import { AppError } from '../errors.js';
import { addRoute, type RouteContext } from './context.js';

const KEEPALIVE_MS = 15_000;

function notFound(): AppError {
  return new AppError('JOB_NOT_FOUND', 'There is no such job (it may be from an earlier launch).', 'Read GET /api/session for the current state.');
}

export function jobRoutes(app: FastifyInstance, ctx: RouteContext): void {
  addRoute(app, getJob, async (req): Promise<ReplyOf<typeof getJob>> => {
    const job = ctx.jobs.get((req.params as ParamsOf<typeof getJob>).id);
    if (!job) throw notFound();
    return job;
  });

  /**
   * Server-sent events: every progress step so far, then new ones as they happen, then `done` or
   * `failed` with the job, then the end of the stream. Data goes through the job reply schema.
   */
  addRoute(app, jobEvents, async (req, reply) => {
    const { id } = req.params as ParamsOf<typeof jobEvents>;
    const job = ctx.jobs.get(id);
    if (!job) throw notFound();
    const serializeJob = reply.compileSerializationSchema(jobSchema) as (j: Job) => string;
    const progressSchema = jobSchema.properties.progress.items;
    const serializeProgress = reply.compileSerializationSchema(progressSchema) as (p: Job['progress'][number]) => string;
    const stream = new PassThrough();
    const send = (event: string, data: string): void => {
      if (!stream.writableEnded) stream.write(`event: ${event}\ndata: ${data}\n\n`);
    };
    for (const p of job.progress) send('progress', serializeProgress(p));
    if (job.status !== 'running') {
      send(job.status, serializeJob(job));
      stream.end();
    } else {
      const timer = setInterval(() => stream.write(': keepalive\n\n'), KEEPALIVE_MS);
      const stop = (): void => {
        off();
        clearInterval(timer);
        if (!stream.writableEnded) stream.end();
      };
      const off = ctx.jobs.subscribe(id, (e) => {
        if (e.type === 'progress') send('progress', serializeProgress(e.progress));
        else {
          send(e.job.status, serializeJob(e.job));
          stop();
        }
      });
      reply.raw.once('close', stop);
    }
    return reply.type('text/event-stream; charset=utf-8').header('x-accel-buffering', 'no').send(stream);
  });
}
