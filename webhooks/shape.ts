import { DomainError } from '../lib/core/domain.js'
import { AppError } from '../lib/core/errors.js'

/** A payload does not have the shape its sender documents; `path` names the offending field. */
export class WebhookShapeError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message)
    this.name = 'WebhookShapeError'
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Runs a domain parser on one field, so a bad digest or name is reported at its JSON path. */
export function parsed<T>(path: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof DomainError) throw new WebhookShapeError(path, err.message)
    throw err
  }
}

/** Runs a payload parser for a route: a shape error becomes a 400 BAD_SHAPE. */
export function shaped<T>(parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof WebhookShapeError) throw new AppError('BAD_SHAPE', err.message)
    throw err
  }
}
