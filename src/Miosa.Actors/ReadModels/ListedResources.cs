using System.Data.Common;
using Miosa.Actors.Common;
using Miosa.Actors.Deployments;
using Miosa.Actors.Organizations;
using Miosa.Actors.Projects;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.ShareTokens;
using Miosa.Actors.Snapshots;
using Miosa.Actors.Workspaces;

namespace Miosa.Actors.ReadModels;

/// <summary>One kind of resource in the list read model: its event tag and how its events fold into a row.</summary>
public interface IListedResource
{
    string Kind { get; }

    /// <summary>Folds a page of this kind's events (entity id, event; journal order) inside the projection's transaction.</summary>
    Task ApplyAsync(ResourceList list, IReadOnlyList<(string Id, IMiosaEvent Event)> events, DbTransaction transaction, CancellationToken ct);
}

public sealed class ListedResource<TState>(
    string kind, Func<string, TState> empty, Func<TState, IMiosaEvent, TState> apply, Func<TState, ResourceRow?> row) : IListedResource
{
    public string Kind => kind;

    public Task ApplyAsync(ResourceList list, IReadOnlyList<(string Id, IMiosaEvent Event)> events, DbTransaction transaction, CancellationToken ct) =>
        list.ApplyAsync(kind, events, empty, apply, row, transaction, ct);

    public Task<ResourcePage<TState>> QueryAsync(ResourceList list, ResourceQuery query, CancellationToken ct) =>
        list.QueryAsync<TState>(kind, query, ct);
}

/// <summary>Every listed resource kind. A new resource adds its line here.</summary>
public static class ListedResources
{
    public static ListedResource<SandboxState> Sandboxes { get; } = new(
        SandboxActor.Kind, SandboxState.Empty, (s, e) => s.Apply(e),
        s => s.Exists ? new ResourceRow(s.OrganizationId!, s.Status.ToString().ToLowerInvariant(), s.CreatedAt, s.Attribution) : null);

    // Deleted workspaces and projects keep a row (state "deleted") that lists leave out.
    public static ListedResource<WorkspaceState> Workspaces { get; } = new(
        WorkspaceActor.Kind, WorkspaceState.Empty, (s, e) => s.Apply(e),
        s => s.Exists ? new ResourceRow(s.OrganizationId!, s.Deleted ? "deleted" : "active", s.CreatedAt, s.Attribution) : null);

    // A project's row carries its workspace, so a workspace counts its projects like any resource.
    public static ListedResource<ProjectState> Projects { get; } = new(
        ProjectActor.Kind, ProjectState.Empty, (s, e) => s.Apply(e),
        s => s.Exists ? new ResourceRow(s.OrganizationId!, s.Deleted ? "deleted" : "active", s.CreatedAt, s.Attribution with { WorkspaceId = s.WorkspaceId }) : null);

    public static ListedResource<ShareTokenState> ShareTokens { get; } = new(
        ShareTokenActor.Kind, ShareTokenState.Empty, (s, e) => s.Apply(e),
        s => s.Exists ? new ResourceRow(s.OrganizationId!, s.Revoked ? "revoked" : "active", s.CreatedAt, s.Attribution) : null);

    // Deleted snapshots keep a row (state "deleted") that lists leave out.
    public static ListedResource<SnapshotState> Snapshots { get; } = new(
        SnapshotActor.Kind, SnapshotState.Empty, (s, e) => s.Apply(e),
        s => s.Exists ? new ResourceRow(s.OrganizationId!, s.Status.ToString().ToLowerInvariant(), s.CreatedAt, s.Attribution) : null);

    // Deleted deployments keep a row (state "deleted") that lists leave out.
    public static ListedResource<DeploymentState> Deployments { get; } = new(
        DeploymentActor.Kind, DeploymentState.Empty, (s, e) => s.Apply(e),
        s => s.Exists ? new ResourceRow(s.OrganizationId!, s.Deleted ? "deleted" : "active", s.CreatedAt, s.Attribution) : null);

    // Not listed by the API: organizations are here so edges get every tenant's route (branding,
    // preview domain) in the full route table.
    public static ListedResource<OrganizationState> Organizations { get; } = new(
        OrganizationActor.Kind, OrganizationState.Empty, (s, e) => s.Apply(e),
        s => s.Exists ? new ResourceRow(s.Id, "active", s.CreatedAt, Attribution.None) : null);

    public static IReadOnlyList<IListedResource> All { get; } = [Sandboxes, Workspaces, Projects, ShareTokens, Snapshots, Deployments, Organizations];
}
