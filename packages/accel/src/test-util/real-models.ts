/** The real trained networks the tests convert (see convert/npm-models.ts). */
export * from '../convert/npm-models';
