import pytest


@pytest.fixture
def runtime(local_settings, project_root):
    """A local runtime on an empty workspace, with the packaged tasks registered;
    waits (Retry backoff, Wait states) take no time."""
    from cloudphot.runtime.local import LocalRuntime

    rt = LocalRuntime(local_settings, project_root=project_root, sleep=lambda s: None)
    rt.register()
    yield rt
    rt.close()
