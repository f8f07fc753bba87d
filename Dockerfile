# The appsync service: Python 3.11 slim, dependencies pinned by constraints.txt, non-root.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY functions ./functions
RUN python -m venv /opt/appsync \
 && /opt/appsync/bin/pip install -c constraints.txt .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --create-home appsync \
 && install -d -o appsync -g appsync /app/data
COPY --from=build /opt/appsync /opt/appsync
ENV PATH=/opt/appsync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    APPSYNC_HOST=0.0.0.0 \
    APPSYNC_PORT=8000 \
    APPSYNC_DATA_DIR=/app/data
WORKDIR /app
USER appsync
# The operations index (one SQLite file) lives here: mount a volume to keep it.
VOLUME ["/app/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["appsync", "serve"]
