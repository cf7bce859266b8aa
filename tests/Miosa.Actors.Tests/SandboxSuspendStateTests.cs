using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

public class SandboxSuspendStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const string Id = "sbx_suspendsuspends";
    private const string Org = "org_one";

    private static SandboxState Run(SandboxState state, ISandboxCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static SandboxState Running(bool autoResume = true) => Run(Run(SandboxState.Empty(Id), new CreateSandbox(Id, Org,
            new SandboxSpec(Id, "miosa-sandbox", new Dictionary<string, string>(), SandboxResources.Default, false), 900, autoResume, Attribution.None, T0)),
        new RecordSandboxStarted(Id, "node-a", "http://127.0.0.1:9", T0));

    [Fact]
    public void A_frozen_sandbox_keeps_its_host_and_route_and_resumes_to_running()
    {
        var suspended = Run(Running(), new RecordSandboxSuspended(Id, false, T0));
        Assert.Equal(SandboxStatus.Suspended, suspended.Status);
        Assert.False(suspended.Hibernated);
        var route = suspended.ToRoute();
        Assert.True(route.Suspended);
        Assert.True(route.AutoResume);
        Assert.Equal("http://127.0.0.1:9", route.IngressUrl);
        Assert.True(suspended.KeepsWorkspaceOn("node-a"));
        Assert.False(suspended.ShouldRunOn("node-a"));
        var resumed = Run(suspended, new RecordSandboxResumed(Id, T0));
        Assert.Equal(SandboxStatus.Running, resumed.Status);
        Assert.True(resumed.RouteVersion > suspended.RouteVersion);
    }

    [Fact]
    public void A_frozen_sandbox_can_hibernate_later_but_never_the_other_way_round()
    {
        var frozen = Run(Running(), new RecordSandboxSuspended(Id, false, T0));
        var hibernated = Run(frozen, new RecordSandboxSuspended(Id, true, T0));
        Assert.True(hibernated.Hibernated);
        Assert.True(hibernated.ToView().Hibernated);
        Assert.Empty(hibernated.Process(new RecordSandboxSuspended(Id, false, T0)).Events);
    }

    [Fact]
    public void Traffic_resumes_only_sandboxes_that_auto_resume_and_others_see_nothing()
    {
        var plain = Run(Running(autoResume: false), new RecordSandboxSuspended(Id, false, T0));
        Assert.Equal("sandbox_suspended", plain.Process(new ResumeSandbox(Id, null, T0, OnTraffic: true)).Rejection!.Code);
        Assert.Null(plain.Process(new ResumeSandbox(Id, Org, T0)).Rejection);
        Assert.Null(Run(Running(), new RecordSandboxSuspended(Id, false, T0)).Process(new ResumeSandbox(Id, null, T0, OnTraffic: true)).Rejection);
        Assert.Equal(404, plain.Process(new SuspendSandbox(Id, "org_two", T0)).Rejection!.Status);
        Assert.Equal(404, plain.Process(new ResumeSandbox(Id, "org_two", T0)).Rejection!.Status);
        var destroyed = Run(Running(), new DestroySandbox(Id, Org, T0));
        Assert.Equal("sandbox_not_running", destroyed.Process(new SuspendSandbox(Id, Org, T0)).Rejection!.Code);
    }
}
