/** Route helpers shared by every route file: zod schemas as OpenAPI JSON Schema, 400s naming the field, 404s. */
import type { FastifyReply } from 'fastify';
import { z } from 'zod';

/** A zod schema as the JSON Schema of an OpenAPI parameter set or body (documentation only: zod validates). */
export function doc(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...js } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return js;
}

/** The value, or a 400 naming the first bad field (sent) and undefined. */
export function valid<T>(
  schema: z.ZodType<T>,
  data: unknown,
  reply: FastifyReply,
  where: 'query' | 'body',
): T | undefined {
  const r = schema.safeParse(data ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    field: i.code === 'unrecognized_keys' ? i.keys.join(',') : i.path.join('.') || '(body)',
    message: i.message,
  }));
  void reply.code(400).send({
    error: `invalid_${where}`,
    field: issues[0].field,
    message: `${issues[0].field}: ${issues[0].message}`,
    issues,
  });
  return undefined;
}

export const notFound = (reply: FastifyReply, what: string) =>
  reply.code(404).send({ error: 'not_found', message: `${what} not found` });
