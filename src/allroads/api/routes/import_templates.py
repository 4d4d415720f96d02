"""What imports are configured with: profiles (read only), issue codes, the tenant's saved
templates and its import settings.

    GET /import-profiles                       every profile, with fields, options, sample
    GET /import-profiles/{name}                one profile
    GET /import-profiles/{name}/sample.csv     the sample CSV (`mandatory` under mandatory
                                               columns), as a download
    GET /import-codes                          every issue code, its severity and meaning
    GET /import-templates?profile=             the tenant's templates
    GET|PUT|DELETE /import-templates/{profile}/{name}
    GET|PUT /import-settings                   {mobile_regex}

Any key may read; changing templates and settings takes an editor key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from allroads.api.deps import EditorKey, ReaderKey
from allroads.api.idempotency import IdempotencyDep, IdempotentRoute
from allroads.api.import_schemas import (
    ImportCodeList,
    ImportProfileList,
    ImportProfileOut,
    ImportSettingsIn,
    ImportSettingsOut,
    ImportTemplateIn,
    ImportTemplateList,
    ImportTemplateOut,
)
from allroads.api.routes.imports import ImportsDep
from allroads.domain.errors import NotFound
from allroads.ingest.issues import codes_table
from allroads.ingest.profiles import PROFILES

ProfileName = Annotated[str, Path(max_length=64, description="the profile's name, e.g. people",
                                  examples=["people"])]
TemplateName = Annotated[str, Path(min_length=1, max_length=200,
                                   description="the template's name, e.g. crm-contacts")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "the CSV file, as an attachment"}}


def router() -> APIRouter:
    profiles = APIRouter(tags=["Import profiles"], route_class=IdempotentRoute)
    profiles.add_api_route("/import-profiles", list_profiles, methods=["GET"],
                           response_model=ImportProfileList, summary="List import profiles",
                           description="Each profile is a kind of file: its fields (type, "
                           "mandatory, identifier), the unique identifiers a template may "
                           "match on, the options it supports, and a sample CSV.")
    profiles.add_api_route("/import-profiles/{name}", get_profile, methods=["GET"],
                           response_model=ImportProfileOut, summary="Get an import profile")
    profiles.add_api_route("/import-profiles/{name}/sample.csv", sample_csv, methods=["GET"],
                           response_class=Response, responses=CSV_RESPONSE,
                           summary="Download a profile's sample CSV",
                           description="The header row, and one sample row that says "
                           "`mandatory` under every mandatory column.")
    profiles.add_api_route("/import-codes", list_codes, methods=["GET"],
                           response_model=ImportCodeList, summary="List import issue codes",
                           description="The stable code of every error and warning an "
                           "import reports, per row and column (errors.csv, first_errors).")
    templates = APIRouter(tags=["Import templates"], route_class=IdempotentRoute)
    templates.add_api_route("/import-templates", list_templates, methods=["GET"],
                            response_model=ImportTemplateList, summary="List import templates")
    templates.add_api_route("/import-templates/{profile}/{name}", get_template,
                            methods=["GET"], response_model=ImportTemplateOut,
                            summary="Get an import template")
    templates.add_api_route("/import-templates/{profile}/{name}", put_template,
                            methods=["PUT"], response_model=ImportTemplateOut,
                            summary="Create or replace an import template",
                            description="Checked against the profile: an unknown field in "
                            "the mapping, an option the profile does not support or a "
                            "match_on it does not allow is a 422 naming it.")
    templates.add_api_route("/import-templates/{profile}/{name}", delete_template,
                            methods=["DELETE"], status_code=204, response_class=Response,
                            summary="Delete an import template",
                            description="Imports already made with it keep their copy.")
    templates.add_api_route("/import-settings", get_settings, methods=["GET"],
                            response_model=ImportSettingsOut, summary="Get import settings")
    templates.add_api_route("/import-settings", put_settings, methods=["PUT"],
                            response_model=ImportSettingsOut, summary="Change import settings",
                            description="The settings sent replace the stored ones (a "
                            "setting left out or null is cleared).")
    r = APIRouter()
    r.include_router(profiles)
    r.include_router(templates)
    return r


def known_profile(name: str) -> str:
    """The profile's canonical name; 404 (a path names a resource) for an unknown one."""
    wanted = name.strip().lower()
    if wanted not in PROFILES:
        raise NotFound(f"no import profile {name!r}",
                       hint="the profiles are: " + ", ".join(PROFILES))
    return wanted


# Profiles and codes ------------------------------------------------------------------------
def list_profiles(_principal: ReaderKey, imports: ImportsDep) -> dict[str, Any]:
    return {"data": imports.profiles()}


def get_profile(name: ProfileName, _principal: ReaderKey, imports: ImportsDep
                ) -> dict[str, Any]:
    return imports.profile(known_profile(name))


def sample_csv(name: ProfileName, _principal: ReaderKey, imports: ImportsDep) -> Response:
    profile = known_profile(name)
    return Response(imports.sample_csv(profile), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="{profile}-sample.csv"'})


def list_codes(_principal: ReaderKey) -> dict[str, Any]:
    return {"data": codes_table()}


# Templates ---------------------------------------------------------------------------------
def list_templates(principal: ReaderKey, imports: ImportsDep,
                   profile: Annotated[str | None, Query(
                       max_length=64, description="only this profile's templates")] = None
                   ) -> dict[str, Any]:
    wanted = known_profile(profile) if profile is not None else None
    return {"data": imports.templates(principal.actor(), wanted)}


def get_template(profile: ProfileName, name: TemplateName, principal: ReaderKey,
                 imports: ImportsDep) -> dict[str, Any]:
    return imports.template(principal.actor(), known_profile(profile), name)


def put_template(profile: ProfileName, name: TemplateName, principal: EditorKey,
                 _idempotency: IdempotencyDep, imports: ImportsDep, body: ImportTemplateIn
                 ) -> dict[str, Any]:
    return imports.save_template(principal.actor(), known_profile(profile), name,
                                 body.model_dump())


def delete_template(profile: ProfileName, name: TemplateName, principal: EditorKey,
                    imports: ImportsDep) -> Response:
    imports.delete_template(principal.actor(), known_profile(profile), name)
    return Response(status_code=204)


# Settings ----------------------------------------------------------------------------------
def get_settings(principal: ReaderKey, imports: ImportsDep) -> dict[str, Any]:
    return imports.settings(principal.actor())


def put_settings(principal: EditorKey, _idempotency: IdempotencyDep, imports: ImportsDep,
                 body: ImportSettingsIn) -> dict[str, Any]:
    return imports.set_settings(principal.actor(), body.model_dump())
