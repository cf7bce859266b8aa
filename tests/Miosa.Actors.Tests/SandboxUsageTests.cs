using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

public class SandboxUsageTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const string Id = "sbx_meter";
    private const string Org = "org_one";

    private static SandboxState Run(SandboxState state, ISandboxCommand command) =>
        state.Process(command).Events.Aggregate(state, (s, e) => s.Apply(e));

    private static SandboxState Running() =>
        Run(Run(SandboxState.Empty(Id), new CreateSandbox(Id, Org,
                new SandboxSpec(Id, "miosa-sandbox", new Dictionary<string, string>(), SandboxResources.Default, false), 900, true,
                new Attribution(WorkspaceId: "ws_a", ExternalUserId: "u1", ExternalProjectId: "p1", Metadata: new Dictionary<string, string> { ["k"] = "v" }), T0)),
            new RecordSandboxStarted(Id, "node-a", "http://127.0.0.1:9", T0));

    private static RecordSandboxUsage Usage(int fromSecond, int toSecond, double cpu = 1, long? storage = null) =>
        new(Id, T0.AddSeconds(fromSecond), T0.AddSeconds(toSecond), cpu, 512 * (toSecond - fromSecond), storage);

    [Fact]
    public void Usage_is_recorded_with_the_organization_and_attribution_of_the_sandbox()
    {
        var decision = Running().Process(Usage(0, 30, cpu: 2.5, storage: 8192));
        var recorded = Assert.IsType<SandboxUsageRecorded>(Assert.Single(decision.Events));
        Assert.Equal(Org, recorded.OrganizationId);
        Assert.Equal("sandbox", recorded.ResourceType);
        Assert.Equal(Id, recorded.ResourceId);
        Assert.Equal("u1", recorded.Attribution.ExternalUserId);
        Assert.Equal("p1", recorded.Attribution.ExternalProjectId);
        Assert.Equal("ws_a", recorded.Attribution.WorkspaceId);
        // Usage groups by ids only: metadata is not copied into every window.
        Assert.Null(recorded.Attribution.Metadata);
        Assert.Equal(30, recorded.RunningSeconds, 6);
        Assert.Equal(2.5, recorded.CpuSeconds, 6);
        Assert.Equal(512 * 30, recorded.MemoryMbSeconds, 6);
        Assert.Equal(8192, recorded.StorageBytes);
        Assert.Equal(0, recorded.EgressBytes);
    }

    [Fact]
    public void Consecutive_windows_are_recorded_and_a_repeated_or_overlapping_one_is_dropped()
    {
        var state = Run(Running(), Usage(0, 30));
        Assert.Equal(T0.AddSeconds(30), state.MeteredUntil);
        Assert.Empty(state.Process(Usage(0, 30)).Events);
        Assert.Empty(state.Process(Usage(20, 50)).Events);
        state = Run(state, Usage(30, 60));
        // A gap (the host was down) is fine: nothing ran then.
        state = Run(state, Usage(90, 120));
        Assert.Equal(T0.AddSeconds(120), state.MeteredUntil);
    }

    [Fact]
    public void Usage_of_an_unknown_or_destroyed_sandbox_or_an_empty_window_is_dropped()
    {
        Assert.Empty(SandboxState.Empty(Id).Process(Usage(0, 30)).Events);
        Assert.Empty(Running().Process(Usage(30, 30)).Events);
        var destroyed = Run(Running(), new DestroySandbox(Id, Org, T0.AddSeconds(10)));
        Assert.Empty(destroyed.Process(Usage(0, 30)).Events);
    }

    [Fact]
    public void Usage_is_recorded_while_the_start_is_still_being_recorded()
    {
        var creating = Run(SandboxState.Empty(Id), new CreateSandbox(Id, Org,
            new SandboxSpec(Id, "miosa-sandbox", new Dictionary<string, string>(), SandboxResources.Default, false), 900, true, Attribution.None, T0));
        Assert.Single(creating.Process(Usage(0, 1)).Events);
    }

    [Fact]
    public void Recording_usage_changes_nothing_the_api_shows()
    {
        var running = Running();
        var metered = Run(running, Usage(0, 30));
        Assert.Equal(running.ToView(), metered.ToView());
    }
}
