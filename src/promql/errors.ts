import { RondoError } from '../errors';

export type PromqlErrorType = 'bad_data' | 'execution' | 'timeout' | 'canceled';

/** An expression Prometheus would refuse (bad_data), or a query that failed while running. */
export class PromqlError extends RondoError {
  override name = 'PromqlError';
  readonly errorType: PromqlErrorType;
  constructor(errorType: PromqlErrorType, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.errorType = errorType;
  }
}

export function badData(message: string): PromqlError {
  return new PromqlError('bad_data', message);
}

export function execError(message: string): PromqlError {
  return new PromqlError('execution', message);
}
