"""The Litestar application factory. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.pydantic import PydanticPlugin

from reports.archive import require_sm3
from reports.fonts import font_problems
from reports.render import RenderPool
from server.api.archives import ArchiveController
from server.api.auth import AuthController
from server.api.cases import CaseController
from server.api.deps import (
    provide_cases,
    provide_categories,
    provide_principal,
    provide_regions,
    provide_users,
)
from server.api.directory import CategoryController, RegionController, UserController
from server.api.documents import DocumentController
from server.api.files import FileController
from server.api.matters import MatterController, RepeatStatsController
from server.api.oversight import (
    AssignmentController,
    ExtensionController,
    InboxController,
    OrganHeadController,
    RecusalController,
)
from server.api.screening import ScreeningController
from server.api.statistics import StatisticsController
from server.api.supervision import LeadController, NotificationController, SupervisionController
from server.api.sync import DeviceController, SyncController, SyncReviewController, beacon
from server.api.system import CalendarController, HealthController
from server.beacon_udp import start_beacon_listener
from server.clock import Clock, SystemClock
from server.crypto import FieldCipher
from server.db import Database, create_engine
from server.errors import EXCEPTION_HANDLERS
from server.gzip_request import GzipRequestMiddleware
from server.pwa_static import pwa_router
from server.scheduler import Scheduler
from server.server_timing import ServerTimingMiddleware
from server.services.context import ServiceContext
from server.services.escalation import policy_in_force
from server.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings, *, clock: Clock | None = None, context: ServiceContext | None = None) -> Litestar:
    """Build the app. Tests pass a ready context (fixed clock, database bound to a
    rolled-back transaction); a server builds its own in the lifespan."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if context is not None:
            yield
            return
        db = Database(
            create_engine(
                settings.database_url,
                busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                pool_size=settings.db_pool_size,
            )
        )
        app.state.context = ServiceContext(
            settings=settings,
            db=db,
            clock=clock or SystemClock(),
            cipher=FieldCipher.from_setting(settings.resolved_data_key()),
        )
        await app.state.context.reload_calendar()
        # A broken policy file stops the start here, naming its lines (policy.invalid).
        policy_in_force(settings)
        # Archive packages need SM3 (GB/T 32905) from OpenSSL: refuse to start without it.
        require_sm3()
        # Missing CJK fonts or HarfBuzz subsetting break no request, only every document:
        # say so loudly at start (docs/documents.md).
        for problem in font_problems():
            print(f"警告 / WARNING: {problem}", file=sys.stderr, flush=True)
        app.state.render_pool = RenderPool(settings.render_workers)
        # Jobs render too (archive packages of closed cases): one pool for all.
        app.state.context.render_pool = app.state.render_pool
        scheduler = Scheduler(app.state.context)
        scheduler.start()
        beacons = (
            await start_beacon_listener(app.state.context, settings.host, settings.beacon_udp_port)
            if settings.beacon_udp_port
            else None
        )
        try:
            yield
        finally:
            if beacons is not None:
                beacons.close()
            await scheduler.shutdown()
            await asyncio.to_thread(app.state.render_pool.close)
            await db.dispose()

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            AuthController,
            HealthController,
            CalendarController,
            RegionController,
            UserController,
            CategoryController,
            CaseController,
            DeviceController,
            SyncController,
            SyncReviewController,
            FileController,
            MatterController,
            RepeatStatsController,
            SupervisionController,
            LeadController,
            NotificationController,
            ExtensionController,
            RecusalController,
            AssignmentController,
            OrganHeadController,
            InboxController,
            ScreeningController,
            ArchiveController,
            DocumentController,
            StatisticsController,
        ],
        dependencies={
            "principal": Provide(provide_principal),
            "cases": Provide(provide_cases, sync_to_thread=False),
            "users": Provide(provide_users, sync_to_thread=False),
            "regions": Provide(provide_regions, sync_to_thread=False),
            "categories": Provide(provide_categories, sync_to_thread=False),
        },
    )
    return Litestar(
        route_handlers=[api, beacon, pwa_router],
        state=State({"context": context} if context is not None else {}),
        lifespan=[lifespan],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[ServerTimingMiddleware, GzipRequestMiddleware],
        plugins=[PydanticPlugin(prefer_alias=False)],
        compression_config=CompressionConfig(backend="gzip", minimum_size=500, exclude_opt_key="skip_compression"),
        openapi_config=OpenAPIConfig(
            title="fengqiao API",
            version="1",
            description="网格化矛盾纠纷调解与信访办理平台接口",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=settings.debug,
    )
