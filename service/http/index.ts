export { errorHandler, notFoundHandler } from './error-handler';
export { jsonBody } from './json-body';
export { requestContextMiddleware, requestLogMiddleware } from './request-context';
export { noQueryParameters } from './strict-input';
