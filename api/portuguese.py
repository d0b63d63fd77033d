"""Problems in Portuguese, for requests whose ``Accept-Language`` prefers ``pt``.

English is the API's own language: each message has one English form, written where
the error is raised. This module maps them to Portuguese at the edge: titles by
status, validation messages by pydantic's error type or by the domain's message,
and details by their known sentences. A detail it does not know becomes the
status's general sentence in Portuguese, never English text in a Portuguese answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

TITLES = {
    400: "Requisição malformada",
    401: "Não autenticado",
    403: "Proibido",
    404: "Não encontrado",
    405: "Método não permitido",
    409: "Conflito",
    413: "Conteúdo grande demais",
    422: "Dados inválidos",
    429: "Requisições demais",
    500: "Erro interno",
    501: "Não implementado",
    503: "Serviço indisponível",
}
GENERAL_DETAILS = {
    400: "o corpo da requisição não é um JSON válido",
    401: "credenciais ausentes ou inválidas",
    403: "sem permissão para esta operação",
    404: "recurso não encontrado",
    405: "método não permitido neste caminho",
    409: "a operação conflita com o estado atual",
    413: "o corpo da requisição passa de 1 MiB",
    422: "a requisição é inválida",
    429: "tentativas demais; aguarde e tente de novo",
    500: "ocorreu um erro inesperado; ele foi registrado",
    501: "ainda não implementado",
    503: "o serviço não pode responder agora; tente de novo em instantes",
}
_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern), template)
    for pattern, template in [
        (r"must not be blank", "não pode ficar em branco"),
        (r"must have at most (\d+) characters", r"deve ter no máximo \1 caracteres"),
        (
            r"must not contain control characters other than line breaks",
            "não pode conter caracteres de controle além de quebras de linha",
        ),
        (
            r"must not contain control characters",
            "não pode conter caracteres de controle",
        ),
        (r"is not a valid e-mail address", "não é um e-mail válido"),
        # Decimals the Brazilian way (a comma); dates and integers as they are.
        (
            r"must be between ([0-9]+)\.([0-9]+) and ([0-9]+)\.([0-9]+)",
            r"deve estar entre \1,\2 e \3,\4",
        ),
        (r"must be between (\S+) and (\S+)", r"deve estar entre \1 e \2"),
        (
            r"must be a percentage from ([0-9]+)\.([0-9]+) to ([0-9]+)\.([0-9]+)",
            r"deve ser um percentual de \1,\2 a \3,\4",
        ),
        (r"must be a decimal percentage", "deve ser um percentual, como 2,00"),
        (
            r"must have at most two decimal places",
            "deve ter no máximo duas casas decimais",
        ),
        (
            r"must be a whole number from ([0-9]+) to ([0-9]+)",
            r"deve ser um número inteiro de \1 a \2",
        ),
        (r"is not a cursor from this API", "não é um cursor desta API"),
        (r"is not a valid CPF or CNPJ", "não é um CPF ou CNPJ válido"),
        (r"must be a CNPJ", "deve ser um CNPJ"),
        (r"must be a date as YYYY-MM-DD", "deve ser uma data AAAA-MM-DD"),
        (r"is not a calendar date", "não é uma data do calendário"),
        (r"nested too deep", "aninhado fundo demais"),
        (r"must be two digits, 01 to 12", "deve ter dois dígitos, de 01 a 12"),
        (r"must be exactly four digits", "deve ter exatamente quatro dígitos"),
        (r"must not be before issue_date", "não pode ser anterior a issue_date"),
        (r"must not be after today", "não pode ser posterior a hoje"),
        (
            r"must be at least the payment partner's minimum, (.+)",
            r"deve ser ao menos o mínimo do parceiro de pagamento, \1",
        ),
        (
            r"must be a Brazilian state code such as SP",
            "deve ser a sigla de um estado, como SP",
        ),
    ]
]
_DETAILS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern), template)
    for pattern, template in [
        (r"the request is invalid", "a requisição é inválida"),
        (r"the request body is not valid JSON", GENERAL_DETAILS[400]),
        (
            r"the request body is nested deeper than (\d+) levels",
            r"o corpo da requisição tem mais de \1 níveis de aninhamento",
        ),
        (r"no such resource", GENERAL_DETAILS[404]),
        (
            r"the webhook signature is missing, wrong or stale",
            "a assinatura do webhook está ausente, errada ou vencida",
        ),
        (r"the webhook body is malformed", "o corpo do webhook é malformado"),
    ]
]
_TYPES = {
    "missing": "campo obrigatório",
    "extra_forbidden": "campo desconhecido",
    "string_type": "deve ser um texto",
    "string_too_short": "deve ter ao menos {min_length} caractere(s)",
    "string_too_long": "deve ter no máximo {max_length} caracteres",
    "too_short": "deve ter ao menos {min_length} caractere(s)",
    "too_long": "deve ter no máximo {max_length} caracteres",
    "string_pattern_mismatch": "não está no formato esperado",
    "literal_error": "deve ser um de: {expected}",
    "uuid_parsing": "não é um UUID válido",
    "uuid_type": "não é um UUID válido",
    "int_parsing": "deve ser um número inteiro",
    "int_type": "deve ser um número inteiro",
    "bool_parsing": "deve ser true ou false",
    "greater_than_equal": "deve ser maior ou igual a {ge}",
    "less_than_equal": "deve ser menor ou igual a {le}",
    "date_parsing": "deve ser uma data AAAA-MM-DD",
    "date_from_datetime_parsing": "deve ser uma data AAAA-MM-DD",
    "datetime_parsing": "deve ser uma data e hora ISO 8601",
    "datetime_from_date_parsing": "deve ser uma data e hora ISO 8601",
    "model_attributes_type": "deve ser um objeto JSON",
    "dict_type": "deve ser um objeto JSON",
    "json_invalid": "JSON inválido",
}


def prefers_portuguese(accept_language: str | None) -> bool:
    """Whether the most preferred of ``pt`` and English in the header is ``pt``."""
    best, best_q = "en", 0.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        language = tag.strip().lower().split("-", 1)[0]
        if language not in {"pt", "en"}:
            continue
        q = _quality(params)
        if q > best_q:
            best, best_q = language, q
    return best == "pt"


def _quality(params: str) -> float:
    match = re.search(r"q=([01](?:\.\d{1,3})?)", params)
    return float(match.group(1)) if match else 1.0


def title(status: int, english: str) -> str:
    """The problem's title in Portuguese."""
    return TITLES.get(status, english)


def detail(status: int, english: str) -> str:
    """A known detail translated; any other, the status's general sentence."""
    translated = _translate(_DETAILS, english)
    if translated is None:
        field, colon, message = english.partition(": ")
        translated_message = _translate(_MESSAGES, message) if colon else None
        if translated_message is not None:
            return f"{field}: {translated_message}"
        return GENERAL_DETAILS.get(status, english)
    return translated


def message(
    english: str, kind: str | None = None, context: Mapping[str, Any] | None = None
) -> str:
    """One ``errors[].msg`` in Portuguese (by pydantic's ``kind`` when it has one)."""
    if kind in _TYPES:
        return _TYPES[kind].format_map(_Context(context or {}))
    english = english.removeprefix("Value error, ")
    return _translate(_MESSAGES, english) or "valor inválido"


def _translate(table: list[tuple[re.Pattern[str], str]], english: str) -> str | None:
    for pattern, template in table:
        match = pattern.fullmatch(english)
        if match is not None:
            return match.expand(template)
    return None


class _Context(dict[str, Any]):
    """A format map that leaves an unknown placeholder as ``?``."""

    def __missing__(self, key: str) -> str:
        return "?"
