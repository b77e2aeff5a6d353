// Prometheus series selectors: the parser and its linear-time regex matcher.
export { parseSelector, formatSeries, MAX_SELECTOR_LENGTH } from './parse';
export type { Selector, LabelMatcher, MatchOp } from './parse';
export { MAX_REGEX_LENGTH } from './parse';
export { MAX_REGEX_PROGRAM, MAX_REGEX_REPEAT, MAX_REGEX_DEPTH } from './regex';
