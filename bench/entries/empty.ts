/** The reference for cold init: a handler that imports nothing and makes no client. */
export const handler = () => Promise.resolve({ statusCode: 200 });
