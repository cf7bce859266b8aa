using Miosa.Actors.Common;
using Miosa.Actors.Deployments;
using Miosa.Actors.Releases;

namespace Miosa.Actors.Tests.Deployments;

public class DeploymentStateTests
{
    private const string Org = "org_a";
    private static readonly DateTimeOffset At = DateTimeOffset.UnixEpoch;

    private static DeploymentState Run(DeploymentState state, IDeploymentCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static DeploymentState Created() =>
        Run(DeploymentState.Empty("dep_x"), new CreateDeployment("dep_x", Org, "Site", "site", "site.ws", false, Attribution.None, At));

    private static DeploymentState Publish(DeploymentState s, string version, string? sha, bool promote = true)
    {
        s = Run(s, new PublishVersion("dep_x", Org, version, "bld_" + version, "sbx_a", "h", "auto", null, promote, At));
        s = Run(s, new RecordBuildStarted("dep_x", version, At));
        var outcome = sha is null
            ? new ReleaseBuildOutcome(version, null, "c", "empty_workspace", "empty", "log")
            : new ReleaseBuildOutcome(version, new ReleaseRef(sha, "static", 10), "c", null, null, "log");
        return Run(s, new RecordBuildOutcome("dep_x", outcome, At));
    }

    [Fact]
    public void Versions_are_numbered_and_a_ready_promoted_build_goes_live()
    {
        var s = Publish(Created(), "v1", "aa");
        s = Publish(s, "v2", null);
        s = Publish(s, "v3", "bb", promote: false);
        Assert.Equal([1, 2, 3], s.Versions.Select(v => v.Number));
        Assert.Equal([VersionState.Ready, VersionState.Failed, VersionState.Ready], s.Versions.Select(v => v.State));
        Assert.Equal("v1", s.ActiveVersionId);
        Assert.Equal("aa", s.ToRoute().Release!.Sha256);
        Assert.Equal("empty_workspace", s.Version("v2")!.ErrorCode);
    }

    [Fact]
    public void Promote_needs_a_ready_version_and_rollback_returns_to_the_one_live_before()
    {
        var s = Publish(Publish(Created(), "v1", "aa"), "v2", "bb");
        Assert.Equal("v2", s.ActiveVersionId);
        var failed = Publish(s, "v3", null);
        Assert.Equal("version_not_ready", failed.Process(new PromoteVersion("dep_x", Org, "v3", At)).Rejection!.Code);
        Assert.Equal("version_not_found", s.Process(new PromoteVersion("dep_x", Org, "ver_nope", At)).Rejection!.Code);
        Assert.Equal(404, s.Process(new PromoteVersion("dep_x", "org_b", "v1", At)).Rejection!.Status);

        var routeVersion = s.RouteVersion;
        s = Run(s, new RollbackDeployment("dep_x", Org, null, At));
        Assert.Equal("v1", s.ActiveVersionId);
        Assert.True(s.RouteVersion > routeVersion);
        Assert.Equal("no_previous_version", s.Process(new RollbackDeployment("dep_x", Org, null, At)).Rejection!.Code);
        s = Run(s, new PromoteVersion("dep_x", Org, "v2", At));
        s = Run(s, new RollbackDeployment("dep_x", Org, null, At));
        Assert.Equal("v1", s.ActiveVersionId);
    }

    [Fact]
    public void An_older_build_that_ends_late_does_not_replace_a_newer_live_version()
    {
        var s = Created();
        s = Run(s, new PublishVersion("dep_x", Org, "v1", "b1", "sbx_a", "h", "auto", null, true, At));
        s = Publish(s, "v2", "bb");
        s = Run(s, new RecordBuildOutcome("dep_x", new ReleaseBuildOutcome("v1", new ReleaseRef("aa", "static", 1), "c", null, null, ""), At));
        Assert.Equal("v2", s.ActiveVersionId);
        Assert.Equal(VersionState.Ready, s.Version("v1")!.State);
    }

    [Fact]
    public void Unfinished_builds_are_reported_for_recovery_and_deleted_deployments_route_nothing()
    {
        var s = Run(Publish(Created(), "v1", "aa"), new PublishVersion("dep_x", Org, "v2", "b2", "sbx_a", "h", "auto", null, true, At));
        Assert.Equal(["v2"], s.Unfinished.Select(v => v.Id));
        s = Run(s, new DeleteDeployment("dep_x", Org, At));
        Assert.True(s.ToRoute().Deleted);
        Assert.Null(s.ToRoute().Release);
        Assert.Equal(404, s.Process(new GetDeployment("dep_x", Org)).Rejection!.Status);
    }

    [Fact]
    public void Version_and_build_ids_name_their_deployment()
    {
        var deployment = ResourceId.New(IdPrefix.Deployment);
        var version = DeploymentIds.NewVersionId(deployment);
        Assert.True(ResourceId.IsValid(version, IdPrefix.Version));
        Assert.Equal(deployment, DeploymentIds.DeploymentOf(version, IdPrefix.Version));
        Assert.Equal(deployment, DeploymentIds.DeploymentOf(DeploymentIds.NewBuildId(deployment), IdPrefix.Build));
        Assert.Null(DeploymentIds.DeploymentOf("ver_short", IdPrefix.Version));
    }
}

public class ReleaseArchiveTests
{
    private static ReleaseFile Text(string path, string text) => new(path, false, () => new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text)));

    private static byte[] Archive(params ReleaseFile[] files)
    {
        using var output = new MemoryStream();
        ReleaseArchive.Write(output, files);
        return output.ToArray();
    }

    [Fact]
    public void The_same_files_in_any_order_give_the_same_bytes()
    {
        var a = Archive(Text("index.html", "<h1>hi</h1>"), Text("assets/app.js", "x()"), Text("assets/css/a.css", "a{}"));
        var b = Archive(Text("assets/css/a.css", "a{}"), Text("index.html", "<h1>hi</h1>"), Text("assets/app.js", "x()"));
        Assert.Equal(a, b);
        Assert.NotEqual(a, Archive(Text("index.html", "<h1>hi!</h1>"), Text("assets/app.js", "x()"), Text("assets/css/a.css", "a{}")));

        var directory = Path.Combine(Path.GetTempPath(), "miosa-release-" + Guid.NewGuid().ToString("n"));
        try
        {
            var hashes = ReleaseArchive.Extract(new MemoryStream(a), directory);
            Assert.Equal(["assets/app.js", "assets/css/a.css", "index.html"], hashes.Keys.Order(StringComparer.Ordinal));
            Assert.Equal("a{}", File.ReadAllText(Path.Combine(directory, "assets/css/a.css")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("a/../../b")]
    [InlineData("/abs")]
    public void Paths_that_leave_the_release_are_refused(string path)
    {
        Assert.Throws<InvalidDataException>(() => Archive(Text(path, "x")));

        // An archive made elsewhere with such an entry is refused when unpacked.
        using var crafted = new MemoryStream();
        using (var tar = new System.Formats.Tar.TarWriter(crafted, System.Formats.Tar.TarEntryFormat.Gnu, leaveOpen: true))
        {
            tar.WriteEntry(new System.Formats.Tar.GnuTarEntry(System.Formats.Tar.TarEntryType.RegularFile, path) { DataStream = new MemoryStream([1]) });
        }
        crafted.Position = 0;
        var directory = Path.Combine(Path.GetTempPath(), "miosa-release-" + Guid.NewGuid().ToString("n"));
        try
        {
            Assert.Throws<InvalidDataException>(() => ReleaseArchive.Extract(crafted, directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}

public class DeploymentEgressTests
{
    private static readonly DateTimeOffset At = DateTimeOffset.UnixEpoch;

    private static DeploymentState Run(DeploymentState state, IDeploymentCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static DeploymentState Created() =>
        Run(DeploymentState.Empty("dep_x"), new CreateDeployment("dep_x", "org_a", "Site", "site", "site.ws", false, Attribution.None, At));

    [Fact]
    public void Edge_egress_is_recorded_once_per_window_per_edge_and_adds_up_across_edges()
    {
        var s = Created();
        var first = s.Process(new RecordDeploymentEgress("dep_x", "edge-1", At, At.AddSeconds(30), 1000));
        var usage = Assert.IsType<DeploymentUsageRecorded>(Assert.Single(first.Events));
        Assert.Equal(1000, usage.EgressBytes);
        Assert.Equal(0, ((Miosa.Actors.Common.IUsageEvent)usage).RunningSeconds);
        s = Run(s, new RecordDeploymentEgress("dep_x", "edge-1", At, At.AddSeconds(30), 1000));
        // The same window again (a resend) is dropped; another edge's overlapping window counts.
        Assert.Empty(s.Process(new RecordDeploymentEgress("dep_x", "edge-1", At, At.AddSeconds(30), 1000)).Events);
        Assert.Single(s.Process(new RecordDeploymentEgress("dep_x", "edge-2", At, At.AddSeconds(30), 500)).Events);
        Assert.Empty(s.Process(new RecordDeploymentEgress("dep_x", "edge-1", At.AddSeconds(30), At.AddSeconds(60), 0)).Events);
    }
}
