/**
 * The registry of validators a pattern pack may name in `validator:`. Custom packs use the
 * same names; an unknown name makes the pack fail to load.
 */
import * as pii from './pii.js';
import * as shapes from './secret-shapes.js';
import * as secrets from './secrets.js';
import type { Validator } from './types.js';

export const VALIDATORS: Readonly<Record<string, Validator>> = Object.freeze({
  credit_card: pii.creditCard,
  us_ssn: pii.usSsn,
  us_itin: pii.usItin,
  iban: pii.iban,
  iban_any_case: pii.ibanAnyCase,
  aba_routing: pii.abaRouting,
  uk_nhs: pii.ukNhs,
  crypto_wallet: pii.cryptoWallet,
  email: pii.email,
  email_idn: pii.emailIdn,
  phone: pii.phone,
  ipv4: pii.ipv4,
  ipv6: pii.ipv6,
  mac_address: pii.macAddress,
  date_of_birth: pii.dateOfBirth,
  github_token: secrets.githubToken,
  npm_token: secrets.npmToken,
  stripe_key: secrets.stripeKey,
  aws_key_id: secrets.awsKeyId,
  aws_secret_near_id: secrets.awsSecretNearId,
  google_api_key: secrets.googleApiKey,
  jwt: secrets.jwt,
  private_key: secrets.privateKey,
  private_key_der: secrets.privateKeyDer,
  jwe: secrets.jwe,
  password_in_url: secrets.passwordInUrl,
  curl_user: secrets.curlUser,
  http_auth: secrets.httpAuth,
  generic_secret: secrets.genericSecret,
  generic_keyed_value: secrets.genericKeyedValue,
  generic_keyed_phrase: secrets.genericKeyedPhrase,
  generic_quoted_secret: shapes.genericQuotedSecret,
  generic_secret_element: shapes.genericSecretElement,
  generic_named_element: shapes.genericNamedElement,
  generic_sibling_secret: shapes.genericSiblingSecret,
  generic_sibling_value_first: shapes.genericSiblingValueFirst,
  command_password: shapes.commandPassword,
  htpasswd_batch: shapes.htpasswdBatch,
  netrc_password: shapes.netrcPassword,
  pgpass_password: shapes.pgpassPassword,
  connection_string_password: shapes.connectionStringPassword,
  mixed_case: secrets.mixedCase,
  has_digit: secrets.hasDigit,
});

export type { Validator, ValidatorInput, Verdict } from './types.js';
