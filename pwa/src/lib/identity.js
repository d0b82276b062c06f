// Resident ID numbers (GB 11643) and phone numbers, checked on the phone exactly as the
// server checks them (grid/identity.py), so a worker fixes a typo at the door instead of
// learning about it from a rejected sync days later. tests/e2e/test_pwa_identity.py runs
// both on the same inputs and requires the same answers.

export class IdentityRuleError extends Error {
  constructor(rule, message) {
    super(message);
    this.rule = rule;
  }
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS = "10X98765432";
const DIGITS_17 = /^[0-9]{17}$/;
const ID_18 = /^[0-9]{17}[0-9X]$/;
const ID_15 = /^[0-9]{15}$/;
const EARLIEST_BIRTH_YEAR = 1900;
// Python's str.split() and re's \s: Unicode whitespace as str.isspace() defines it. JS \s
// differs (it has U+FEFF, lacks U+001C-U+001F and U+0085), so the class is spelled out.
const SPACE = "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WHITESPACE = new RegExp(`[${SPACE}]+`, "g");
const EDGE_SPACE = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, "g");
const strip = (text) => text.replace(EDGE_SPACE, "");

export function checkCharacter(first17) {
  if (!DIGITS_17.test(first17)) throw new IdentityRuleError("id_number.format", "身份证号前17位必须是数字");
  let total = 0;
  for (let i = 0; i < 17; i++) total += Number(first17[i]) * WEIGHTS[i];
  return CHECK_CHARACTERS[total % 11];
}

function normaliseIdText(raw) {
  // NFKC folds full-width "１２３Ｘ" from Chinese input methods and the ideographic space.
  return raw.normalize("NFKC").replace(WHITESPACE, "").toUpperCase();
}

const codePoints = (text) => [...text].length;

function daysInMonth(year, month) {
  return [31, year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][
    month - 1
  ];
}

function birthDate(year, month, day) {
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new IdentityRuleError("id_number.birth_date", "身份证号中的出生日期不是有效日期");
  }
  if (year < EARLIEST_BIRTH_YEAR) throw new IdentityRuleError("id_number.birth_date", "身份证号中的出生日期早于1900年");
  return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

function checkAddressCode(text) {
  if (text[0] === "0") throw new IdentityRuleError("id_number.format", "身份证号前6位地址码不能以0开头");
}

/** {value, status: valid|legacy_15|unknown, birthDate, sex, unknownReason}; throws IdentityRuleError. */
export function parseResidentId(raw, unknownReason = null) {
  const text = raw != null ? normaliseIdText(raw) : "";
  if (!text) {
    const reason = unknownReason != null ? strip(unknownReason) : "";
    if (!reason) throw new IdentityRuleError("id_number.unknown_needs_reason", "未提供身份证号时须说明原因");
    return { value: null, status: "unknown", birthDate: null, sex: null, unknownReason: reason };
  }
  const length = codePoints(text);
  if (length === 18) {
    if (!ID_18.test(text)) throw new IdentityRuleError("id_number.format", "身份证号前17位必须是数字，最后一位是数字或X");
    checkAddressCode(text);
    const born = birthDate(Number(text.slice(6, 10)), Number(text.slice(10, 12)), Number(text.slice(12, 14)));
    if (checkCharacter(text.slice(0, 17)) !== text[17]) {
      throw new IdentityRuleError("id_number.checksum", "身份证号校验位不正确，请核对是否有数字录错");
    }
    return { value: text, status: "valid", birthDate: born, sex: Number(text[16]) % 2 ? "male" : "female", unknownReason: null };
  }
  if (length === 15) {
    if (!ID_15.test(text)) throw new IdentityRuleError("id_number.format", "15位旧身份证号必须全部是数字");
    checkAddressCode(text);
    const born = birthDate(1900 + Number(text.slice(6, 8)), Number(text.slice(8, 10)), Number(text.slice(10, 12)));
    return { value: text, status: "legacy_15", birthDate: born, sex: Number(text[14]) % 2 ? "male" : "female", unknownReason: null };
  }
  throw new IdentityRuleError("id_number.length", `身份证号应为18位（旧证为15位），现为${length}位`);
}

const MOBILE = /^1[3-9][0-9]{9}$/;
const LANDLINE_DIGITS = /^0[0-9]{9,11}$/;
const PHONE_SEPARATORS = new RegExp(`[${SPACE}\\-()\\u2010-\\u2015\\u2212]`, "g");
const PHONE_FORMAT_MESSAGE = "电话号码格式不正确：手机号为1开头的11位数字，座机号为区号加7到8位号码（如0914-4321234）";

const areaCodeLength = (digits) => (digits.startsWith("010") || digits[1] === "2" ? 3 : 4);

/** {kind: mobile|landline, number}; throws IdentityRuleError. */
export function normalizePhone(raw) {
  let text = raw.normalize("NFKC").replace(PHONE_SEPARATORS, "");
  if (!text) throw new IdentityRuleError("phone.format", "未填写电话号码");
  let international = false;
  if (text.startsWith("+86")) {
    text = text.slice(3);
    international = true;
  } else if (text.startsWith("0086")) {
    text = text.slice(4);
    international = true;
  } else if (codePoints(text) === 13 && text.startsWith("86") && MOBILE.test(text.slice(2))) {
    text = text.slice(2);
  }
  if (!/^[0-9]+$/.test(text)) throw new IdentityRuleError("phone.format", PHONE_FORMAT_MESSAGE);
  if (MOBILE.test(text)) return { kind: "mobile", number: text };
  if (international && !text.startsWith("0")) text = "0" + text;
  if (LANDLINE_DIGITS.test(text)) {
    const split = areaCodeLength(text);
    const local = text.slice(split);
    if (local.length >= 7 && local.length <= 8) return { kind: "landline", number: `${text.slice(0, split)}-${local}` };
  }
  throw new IdentityRuleError("phone.format", PHONE_FORMAT_MESSAGE);
}

/** The rule broken, or null: for forms that show the message beside the field. */
export function idNumberProblem(raw, unknownReason) {
  try {
    parseResidentId(raw, unknownReason);
    return null;
  } catch (error) {
    if (error instanceof IdentityRuleError) return { rule: error.rule, message: error.message };
    throw error;
  }
}

export function phoneProblem(raw) {
  if (!raw || !raw.trim()) return null; // a phone is optional
  try {
    normalizePhone(raw);
    return null;
  } catch (error) {
    if (error instanceof IdentityRuleError) return { rule: error.rule, message: error.message };
    throw error;
  }
}
