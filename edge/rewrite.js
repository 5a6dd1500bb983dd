/*
 * The edge front door of the cevitxe signal server: a CloudFront Function
 * (viewer-request, cloudfront-js-2.0). The local gateway and the unit tests run
 * this same file through local/edge-runtime.ts, so local and edge rewrite
 * identically.
 * API Gateway accepts WebSocket connections only at the stage path; this
 * function maps the original server's URLs onto it and answers the rest:
 *
 * - not GET or HEAD: 405 (allow: GET, HEAD).
 * - no WebSocket upgrade (and every HEAD): `/` answers 200 with the fish page
 *   (HEAD: same headers, no body); any other path answers 404.
 * - upgrade to `/`, STAGE_PATH or STAGE_PATH/: forwarded to STAGE_PATH with
 *   the viewer's query string unchanged; the $connect Lambda validates the
 *   query form and answers 400 itself.
 * - upgrade to /introduction/:localId or /connection/:localId/:remoteId/:key:
 *   forwarded to STAGE_PATH with ?type=introduction&localId=... or
 *   ?type=connection&localId=...&remoteId=...&key=.... The viewer's other
 *   query parameters (the optional shared `token`, say) ride along unchanged;
 *   the reserved names type, localId, remoteId and key come from the path
 *   only, and viewer parameters by those names are dropped, compared after
 *   percent-decoding (API Gateway decodes names: `%74ype` is `type`), as are
 *   names that are not valid percent-encoding. 400 when the path parameters do
 *   not fit: wrong segment count, empty segment, malformed percent-encoding,
 *   over 256 UTF-16 code units, a control character (C0, DEL, C1), or localId
 *   equal to remoteId.
 * - upgrade to any other path: 403, as API Gateway answers beyond the stage.
 *
 * Decided here: an upgrade is a request with a `sec-websocket-key` header.
 * CloudFront never shows a function the `upgrade` and `connection` headers,
 * so the key, which every WebSocket handshake carries, is the only sign of
 * one at the edge. Endpoint names are
 * compared as sent (`/%69ntroduction/a` is an unknown path). One trailing
 * slash after the path form is ignored, as the original's non-strict Express
 * routing did; a second is an empty segment. Segments are percent-decoded as
 * UTF-8 (`%2F` is a `/` in the value, `+` is a plus), validated, then encoded
 * with encodeURIComponent: CloudFront gives the function the query as the
 * viewer spelled it and forwards `querystring` without encoding it. Refusals
 * carry a short text/plain reason that never echoes the request.
 *
 * Only what runtime 2.0 offers: ES 5.1 in strict mode, no modules, no
 * network, no Node globals, under 10 KB. The stage placeholder below is
 * replaced at synth (lib/edge-front-door.ts) and at load (edge/source.ts).
 */

/* exported handler -- the entry point CloudFront calls */

var STAGE_PATH = '/__STAGE__';

var MAX_LENGTH = 256;

// The product's fish page: a black page with one big fish emoji, U+1F41F, written as an escape
// so that the source stays ASCII.
var FISH_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
  '<meta name="viewport" content="width=device-width,initial-scale=1">' +
  '<title>cevitxe signal server</title></head>' +
  '<body style="margin:0;min-height:100vh;display:flex;align-items:center;' +
  'justify-content:center;background:#000;font-size:40vmin">\uD83D\uDC1F</body></html>';

var STATUS_TEXT = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
};

function respond(statusCode, contentType, body, withBody, extraHeaders) {
  var response = {
    statusCode: statusCode,
    statusDescription: STATUS_TEXT[statusCode],
    headers: {
      'content-type': { value: contentType },
      'cache-control': { value: 'no-store' },
    },
  };
  if (extraHeaders) {
    Object.keys(extraHeaders).forEach(function (name) {
      response.headers[name] = { value: extraHeaders[name] };
    });
  }
  if (withBody) {
    response.body = { encoding: 'text', data: body };
  }
  return response;
}

function refuse(statusCode, reason, withBody) {
  var text = STATUS_TEXT[statusCode] + (reason ? ': ' + reason : '') + '\n';
  return respond(statusCode, 'text/plain; charset=utf-8', text, withBody);
}

function headerValue(request, name) {
  var header = request.headers && request.headers[name];
  return header && typeof header.value === 'string' ? header.value : '';
}

function isWebSocketUpgrade(request) {
  return headerValue(request, 'sec-websocket-key') !== '';
}

// Returns an error message, or '' when the value is a valid id or key.
function invalidValue(name, value) {
  if (value.length === 0) {
    return name + ' is empty';
  }
  if (value.length > MAX_LENGTH) {
    return name + ' is longer than ' + MAX_LENGTH + ' characters';
  }
  for (var i = 0; i < value.length; i++) {
    var code = value.codePointAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) {
      return name + ' contains a control character';
    }
  }
  return '';
}

// The query names the path form sets; the viewer's query cannot supply or override them.
var RESERVED = ['type', 'localId', 'remoteId', 'key'];

// Whether API Gateway could read the viewer's parameter `name` as a reserved name. A name
// that does not decode counts too: what API Gateway would make of it is unknown.
function isReserved(name) {
  try {
    return RESERVED.indexOf(decodeURIComponent(name)) >= 0;
  } catch (err) {
    if (!(err instanceof URIError)) {
      throw err;
    }
    return true;
  }
}

var ENDPOINTS = {
  introduction: ['localId'],
  connection: ['localId', 'remoteId', 'key'],
};

// Turns the segments after the endpoint name into the query form, or explains what is wrong.
function pathForm(type, segments) {
  var names = ENDPOINTS[type];
  if (segments.length !== names.length) {
    return {
      error: '/' + type + ' takes ' + names.length + ' path parameter(s): ' + names.join(', '),
    };
  }
  var querystring = { type: { value: type } };
  var values = {};
  for (var i = 0; i < names.length; i++) {
    var value;
    try {
      value = decodeURIComponent(segments[i]);
    } catch (err) {
      if (!(err instanceof URIError)) {
        throw err;
      }
      return { error: names[i] + ' is not valid percent-encoded UTF-8' };
    }
    var problem = invalidValue(names[i], value);
    if (problem) {
      return { error: problem };
    }
    values[names[i]] = value;
    querystring[names[i]] = { value: encodeURIComponent(value) };
  }
  if (type === 'connection' && values.localId === values.remoteId) {
    return { error: 'localId and remoteId are the same' };
  }
  return { querystring: querystring };
}

function handler(event) {
  var request = event.request;
  var method = request.method;
  var uri = request.uri;

  if (method !== 'GET' && method !== 'HEAD') {
    return respond(405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', true, {
      allow: 'GET, HEAD',
    });
  }
  var withBody = method === 'GET';

  if (method === 'HEAD' || !isWebSocketUpgrade(request)) {
    if (uri === '/') {
      return respond(200, 'text/html; charset=utf-8', FISH_PAGE, withBody);
    }
    return refuse(404, '', withBody);
  }

  if (uri === '/' || uri === STAGE_PATH || uri === STAGE_PATH + '/') {
    request.uri = STAGE_PATH;
    return request;
  }

  var segments = uri.split('/').slice(1);
  var type = segments[0];
  if (type !== 'introduction' && type !== 'connection') {
    return refuse(403, '', true);
  }
  segments = segments.slice(1);
  if (segments.length > 1 && segments[segments.length - 1] === '') {
    segments.pop();
  }
  var result = pathForm(type, segments);
  if (result.error) {
    return refuse(400, result.error, true);
  }
  // Keep the viewer's own parameters (in place, so no name is ever copied onto a fresh object)
  // minus the reserved ones, then set those from the path.
  var querystring = request.querystring || {};
  Object.keys(querystring).forEach(function (name) {
    if (isReserved(name)) {
      delete querystring[name];
    }
  });
  Object.keys(result.querystring).forEach(function (name) {
    querystring[name] = result.querystring[name];
  });
  request.uri = STAGE_PATH;
  request.querystring = querystring;
  return request;
}
