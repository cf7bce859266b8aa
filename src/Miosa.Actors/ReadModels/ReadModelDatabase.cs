using System.Data.Common;
using Microsoft.Data.Sqlite;
using Miosa.Actors.Hosting;
using Npgsql;

namespace Miosa.Actors.ReadModels;

/// <summary>
/// The SQL database that holds read models: the journal's own database (SQLite file or PostgreSQL),
/// in tables of their own. The SQL used here is the subset both engines speak.
/// </summary>
public sealed class ReadModelDatabase(MiosaNodeOptions options)
{
    public async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        DbConnection connection = options.UsesPostgres
            ? new NpgsqlConnection(options.Database)
            : new SqliteConnection(options.SqliteConnectionString);
        await connection.OpenAsync(ct);
        if (connection is SqliteConnection)
        {
            // The journal writes the same file: wait for its lock rather than fail.
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA busy_timeout = 5000;";
            await pragma.ExecuteNonQueryAsync(ct);
        }
        return connection;
    }

    public async Task ExecuteAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, sql, parameters);
        await command.ExecuteNonQueryAsync(ct);
    }

    public static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var p = command.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            command.Parameters.Add(p);
        }
        return command;
    }

    /// <summary>A command that runs inside <paramref name="transaction"/> (a projection's page).</summary>
    public static DbCommand Command(DbTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = Command(transaction.Connection!, sql, parameters);
        command.Transaction = transaction;
        return command;
    }

    /// <summary>
    /// Runs the statements in order inside <paramref name="transaction"/>: in one round trip where the
    /// engine takes batches (PostgreSQL), one after the other where it does not (SQLite, in process).
    /// </summary>
    public static async Task ExecuteAllAsync(
        DbTransaction transaction, IReadOnlyList<(string Sql, (string Name, object? Value)[] Parameters)> statements, CancellationToken ct)
    {
        if (statements.Count == 0) return;
        var connection = transaction.Connection!;
        if (!connection.CanCreateBatch)
        {
            foreach (var (sql, parameters) in statements)
            {
                await using var command = Command(transaction, sql, parameters);
                await command.ExecuteNonQueryAsync(ct);
            }
            return;
        }
        await using var batch = connection.CreateBatch();
        batch.Transaction = transaction;
        foreach (var (sql, parameters) in statements)
        {
            var command = batch.CreateBatchCommand();
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                var p = command.CreateParameter();
                p.ParameterName = name;
                p.Value = value ?? DBNull.Value;
                command.Parameters.Add(p);
            }
            batch.BatchCommands.Add(command);
        }
        await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Runs <paramref name="write"/> in a transaction of its own (one-off writes, tests, the bench).</summary>
    public async Task InTransactionAsync(Func<DbTransaction, Task> write, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await write(transaction);
        await transaction.CommitAsync(ct);
    }
}
