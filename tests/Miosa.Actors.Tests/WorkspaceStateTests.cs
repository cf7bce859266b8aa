using Miosa.Actors.Common;
using Miosa.Actors.Projects;
using Miosa.Actors.Workspaces;

namespace Miosa.Actors.Tests;

public class WorkspaceStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const string Id = "ws_abc";
    private const string Org = "org_one";
    private static readonly IReadOnlyDictionary<string, long> Empty = new Dictionary<string, long>();

    private static WorkspaceState Run(WorkspaceState state, IWorkspaceCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static WorkspaceState Created() => Run(WorkspaceState.Empty(Id),
        new CreateWorkspace(Id, Org, "acme", "Acme", new Attribution(ExternalWorkspaceId: "client-7"), T0));

    [Fact]
    public void Create_then_rename_keeps_slug_and_attribution()
    {
        var renamed = Run(Created(), new RenameWorkspace(Id, Org, "Acme Corp", T0.AddSeconds(1)));
        var view = renamed.ToView();
        Assert.Equal(("acme", "Acme Corp", "client-7"), (view.Slug, view.Name, view.Attribution.ExternalWorkspaceId));
        Assert.Equal(T0, view.CreatedAt);
        Assert.Equal(T0.AddSeconds(1), view.UpdatedAt);
        Assert.Empty(renamed.Process(new RenameWorkspace(Id, Org, "Acme Corp", T0.AddSeconds(2))).Events);
    }

    [Fact]
    public void Created_renamed_and_deleted_are_audited()
    {
        var created = WorkspaceState.Empty(Id).Process(new CreateWorkspace(Id, Org, "acme", "Acme", Attribution.None, T0, "key_1"));
        var renamed = Created().Process(new RenameWorkspace(Id, Org, "B", T0, "key_2"));
        var deleted = Created().Process(new DeleteWorkspace(Id, Org, Empty, T0, "key_3"));
        var actions = new[] { created, renamed, deleted }.Select(d => Assert.IsAssignableFrom<IAuditedEvent>(Assert.Single(d.Events)))
            .Select(e => (e.Action, e.ResourceId, e.OrganizationId, e.ActorKeyId));
        Assert.Equal([("workspace.created", Id, Org, "key_1"), ("workspace.renamed", Id, Org, "key_2"), ("workspace.deleted", Id, Org, "key_3")], actions);
    }

    [Fact]
    public void Another_organization_sees_nothing()
    {
        var state = Created();
        Assert.Equal("workspace_not_found", state.Process(new GetWorkspace(Id, "org_two")).Rejection!.Code);
        Assert.Equal(404, state.Process(new RenameWorkspace(Id, "org_two", "x", T0)).Rejection!.Status);
        Assert.Equal(404, state.Process(new DeleteWorkspace(Id, "org_two", Empty, T0)).Rejection!.Status);
        Assert.Equal(409, state.Process(new CreateWorkspace(Id, "org_two", "acme", "Acme", Attribution.None, T0)).Rejection!.Status);
    }

    [Fact]
    public void A_workspace_that_holds_resources_is_not_deleted()
    {
        var holdings = new Dictionary<string, long> { ["project"] = 2, ["sandbox"] = 1 };
        var rejection = Created().Process(new DeleteWorkspace(Id, Org, holdings, T0)).Rejection!;
        Assert.Equal(("workspace_not_empty", 409), (rejection.Code, rejection.Status));
        Assert.Contains("2 projects and 1 sandbox", rejection.Detail);
    }

    [Fact]
    public void A_deleted_workspace_reads_as_absent_and_deletes_again()
    {
        var deleted = Run(Created(), new DeleteWorkspace(Id, Org, new Dictionary<string, long> { ["sandbox"] = 0 }, T0.AddSeconds(3)));
        Assert.True(deleted.Deleted);
        Assert.Equal("workspace_not_found", deleted.Process(new GetWorkspace(Id, Org)).Rejection!.Code);
        Assert.Equal("workspace_not_found", deleted.Process(new RenameWorkspace(Id, Org, "x", T0)).Rejection!.Code);
        // A retried delete succeeds with nothing new, whatever was counted since.
        var again = deleted.Process(new DeleteWorkspace(Id, Org, new Dictionary<string, long> { ["project"] = 1 }, T0));
        Assert.Null(again.Rejection);
        Assert.Empty(again.Events);
        Assert.Equal(404, deleted.Process(new DeleteWorkspace(Id, "org_two", Empty, T0)).Rejection!.Status);
    }

    [Fact]
    public void A_missing_workspace_is_not_found() =>
        Assert.Equal("workspace_not_found", WorkspaceState.Empty(Id).Process(new DeleteWorkspace(Id, Org, Empty, T0)).Rejection!.Code);

    [Theory]
    [InlineData("sandbox", "sandboxes")]
    [InlineData("project", "projects")]
    [InlineData("deployment", "deployments")]
    [InlineData("data_service", "data_services")]
    [InlineData("policy", "policies")]
    public void Holdings_are_named_by_collection(string kind, string collection) =>
        Assert.Equal(collection, Holdings.CollectionOf(kind));
}

public class ProjectStateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const string Id = "prj_abc";
    private const string Org = "org_one";

    private static ProjectState Run(ProjectState state, IProjectCommand command)
    {
        var decision = state.Process(command);
        Assert.Null(decision.Rejection);
        return decision.Events.Aggregate(state, (s, e) => s.Apply(e));
    }

    private static ProjectState Created() => Run(ProjectState.Empty(Id),
        new CreateProject(Id, Org, "ws_abc", "shop", "Shop", new Attribution(ExternalProjectId: "p-1"), T0));

    [Fact]
    public void A_project_belongs_to_its_workspace()
    {
        var view = Run(Created(), new RenameProject(Id, Org, "Web shop", T0.AddSeconds(1))).ToView();
        Assert.Equal(("ws_abc", "shop", "Web shop", "p-1"), (view.WorkspaceId, view.Slug, view.Name, view.Attribution.ExternalProjectId));
    }

    [Fact]
    public void A_project_with_sandboxes_is_not_deleted_and_an_empty_one_is()
    {
        var rejection = Created().Process(new DeleteProject(Id, Org, new Dictionary<string, long> { ["sandbox"] = 3 }, T0)).Rejection!;
        Assert.Equal(("project_not_empty", 409), (rejection.Code, rejection.Status));
        Assert.Contains("3 sandboxes", rejection.Detail);

        var deleted = Run(Created(), new DeleteProject(Id, Org, new Dictionary<string, long>(), T0));
        var audited = Assert.IsAssignableFrom<IAuditedEvent>(Assert.Single(Created().Process(new DeleteProject(Id, Org, new Dictionary<string, long>(), T0)).Events));
        Assert.Equal("project.deleted", audited.Action);
        Assert.Equal("project_not_found", deleted.Process(new GetProject(Id, Org)).Rejection!.Code);
        Assert.Empty(deleted.Process(new DeleteProject(Id, Org, new Dictionary<string, long>(), T0)).Events);
    }

    [Fact]
    public void Another_organization_sees_nothing()
    {
        Assert.Equal("project_not_found", Created().Process(new GetProject(Id, "org_two")).Rejection!.Code);
        Assert.Equal(404, Created().Process(new RenameProject(Id, "org_two", "x", T0)).Rejection!.Status);
        Assert.Equal(404, Created().Process(new DeleteProject(Id, "org_two", new Dictionary<string, long>(), T0)).Rejection!.Status);
    }
}
