/**
 * A CloudFront Functions runtime for Node: runs the code CloudFront runs (edge/source.ts) so that
 * the local gateway and the unit tests rewrite exactly as the edge does.
 *
 * The sandbox is a `vm` context holding only what CloudFront Functions runtime 2.0 documents
 * (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-javascript-runtime-20.html),
 * or less: strict mode; no `require`, `process`, `Buffer`, timers, `fetch` or other Node globals;
 * no `eval` or `Function` constructor (code generation from strings is disabled); only the
 * documented globals, and only the documented methods on `Object`, `String`, `Array`, `Number`
 * and their prototypes; `console.log` with one argument. Being stricter than CloudFront is
 * safe; being laxer would let the file depend on something the edge lacks.
 *
 * Events and results cross the sandbox boundary as JSON, as they do on CloudFront, so the
 * function never holds a host object (whose prototype would offer host methods) and callers
 * never receive a sandbox object.
 */
import vm from 'node:vm';
import { edgeFunctionCode } from '../edge/source.js';
import type { CloudFrontViewerRequestEvent, CloudFrontViewerRequestResult } from './edge-event.js';

/** Runs the edge rewrite on one viewer-request event. Throws when the function throws. */
export type Rewrite = (event: CloudFrontViewerRequestEvent) => CloudFrontViewerRequestResult;

export interface LoadRewriteOptions {
  /** Receives each `console.log` line of the function. @default discarded */
  readonly log?: (line: string) => void;
  /** The file name stack traces show. @default 'rewrite.min.js' for loadRewrite, else 'function.js' */
  readonly filename?: string;
}

// What CloudFront Functions runtime 2.0 documents; everything else is removed from the sandbox.
const ALLOWED_GLOBALS = [
  'globalThis',
  'NaN',
  'Infinity',
  'undefined',
  'decodeURI',
  'decodeURIComponent',
  'encodeURI',
  'encodeURIComponent',
  'isFinite',
  'isNaN',
  'parseFloat',
  'parseInt',
  'atob',
  'btoa',
  'Object',
  'Function',
  'Array',
  'String',
  'Boolean',
  'Number',
  'Symbol',
  'Math',
  'Date',
  'RegExp',
  'JSON',
  'Promise',
  'ArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'TextDecoder',
  'TextEncoder',
  'Error',
  'EvalError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
  'TypeError',
  'URIError',
];

// Properties every function or prototype object carries, kept wherever methods are filtered.
const INTRINSIC = ['length', 'name', 'prototype', 'constructor', '__proto__'];

// The documented methods (and constants) of the objects code reaches for most.
const ALLOWED_MEMBERS: Record<string, string[]> = {
  Object: [
    'create',
    'defineProperties',
    'defineProperty',
    'freeze',
    'getOwnPropertyDescriptor',
    'getOwnPropertyDescriptors',
    'getOwnPropertyNames',
    'getPrototypeOf',
    'isExtensible',
    'isFrozen',
    'isSealed',
    'keys',
    'preventExtensions',
    'seal',
    'assign',
    'entries',
    'values',
    'is',
    'setPrototypeOf',
  ],
  'Object.prototype': [
    'hasOwnProperty',
    'isPrototypeOf',
    'propertyIsEnumerable',
    'toString',
    'valueOf',
  ],
  String: ['fromCharCode', 'fromCodePoint'],
  'String.prototype': [
    'charAt',
    'concat',
    'indexOf',
    'lastIndexOf',
    'match',
    'replace',
    'search',
    'slice',
    'split',
    'substr',
    'substring',
    'toLowerCase',
    'trim',
    'toUpperCase',
    'codePointAt',
    'endsWith',
    'includes',
    'repeat',
    'startsWith',
    'padStart',
    'padEnd',
    'trimStart',
    'trimEnd',
    'replaceAll',
    'toString',
    'valueOf',
  ],
  Array: ['isArray', 'of'],
  'Array.prototype': [
    'concat',
    'every',
    'filter',
    'forEach',
    'indexOf',
    'join',
    'lastIndexOf',
    'map',
    'pop',
    'push',
    'reduce',
    'reduceRight',
    'reverse',
    'shift',
    'slice',
    'some',
    'sort',
    'splice',
    'unshift',
    'copyWithin',
    'fill',
    'find',
    'findIndex',
    'includes',
    'toString',
  ],
  Number: [
    'EPSILON',
    'MAX_SAFE_INTEGER',
    'MIN_SAFE_INTEGER',
    'MAX_VALUE',
    'MIN_VALUE',
    'NaN',
    'NEGATIVE_INFINITY',
    'POSITIVE_INFINITY',
    'isFinite',
    'isInteger',
    'isNaN',
    'isSafeInteger',
    'parseInt',
    'parseFloat',
  ],
  'Number.prototype': ['toExponential', 'toFixed', 'toPrecision', 'toString', 'valueOf'],
};

// Runs inside the sandbox before the function: trims the realm down to what CloudFront offers and
// installs a console whose lines stay in the sandbox until the host collects them.
const PREPARE = `function (allowedGlobals, allowedMembers, intrinsic) {
  Object.getOwnPropertyNames(globalThis).forEach(function (name) {
    if (allowedGlobals.indexOf(name) < 0) delete globalThis[name];
  });
  Object.keys(allowedMembers).forEach(function (path) {
    var target = path.split('.').reduce(function (object, key) { return object[key]; }, globalThis);
    Object.getOwnPropertyNames(target).forEach(function (name) {
      if (allowedMembers[path].indexOf(name) < 0 && intrinsic.indexOf(name) < 0) delete target[name];
    });
  });
  var lines = [];
  Object.defineProperty(globalThis, 'console', {
    value: Object.freeze({
      log: function (message) { lines.push(String(message)); },
    }),
  });
  return {
    run: function (handler, eventJson) {
      return JSON.stringify(handler(JSON.parse(eventJson)));
    },
    drain: function () { return JSON.stringify(lines.splice(0, lines.length)); },
  };
}`;

interface SandboxBridge {
  run(handler: unknown, eventJson: string): string | undefined;
  drain(): string;
}

/**
 * Loads the deployed code of edge/rewrite.js for one stage ({@link edgeFunctionCode}, minified)
 * into a fresh sandbox and returns the typed function.
 * @param stageName the API Gateway stage name, e.g. `dev`; requests are rewritten to `/dev`.
 */
export function loadRewrite(stageName: string, options: LoadRewriteOptions = {}): Rewrite {
  return loadFunction(edgeFunctionCode(stageName), { filename: 'rewrite.min.js', ...options });
}

/**
 * Loads any CloudFront Function source into a fresh sandbox (the one {@link loadRewrite} uses)
 * and returns its `handler` as a {@link Rewrite}. Tests use it to probe the sandbox itself.
 */
export function loadFunction(source: string, options: LoadRewriteOptions = {}): Rewrite {
  const context = vm.createContext(Object.create(null) as object, {
    name: 'cloudfront-js-2.0',
    codeGeneration: { strings: false, wasm: false },
  });
  // The lists are written into the script, so that the preparation only touches sandbox objects.
  const lists = [ALLOWED_GLOBALS, ALLOWED_MEMBERS, INTRINSIC].map((list) => JSON.stringify(list));
  const bridge = vm.runInContext(
    `'use strict';(${PREPARE})(${lists.join(', ')});`,
    context,
  ) as SandboxBridge;
  // CloudFront runs every function in strict mode; the directive shares line 1 to keep positions.
  new vm.Script(`'use strict';${source}`, {
    filename: options.filename ?? 'function.js',
  }).runInContext(context);
  const handler: unknown = vm.runInContext(
    "typeof handler === 'function' ? handler : undefined",
    context,
  );
  if (handler === undefined) {
    throw new Error('The CloudFront Function source does not define a function named handler');
  }
  const log = options.log;
  return (event) => {
    try {
      const json = bridge.run(handler, JSON.stringify(event));
      if (json === undefined) {
        throw new Error('The edge rewrite returned nothing');
      }
      return JSON.parse(json) as CloudFrontViewerRequestResult;
    } finally {
      const lines = JSON.parse(bridge.drain()) as string[];
      if (log) lines.forEach((line) => log(line));
    }
  };
}
