export { errorHandler, notFoundHandler } from './error-handler';
export { requestContextMiddleware, requestLogMiddleware } from './request-context';
