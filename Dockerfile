FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

WORKDIR /app

# torch first, so the build chosen here is the one the project's range accepts. Point
# TORCH_INDEX_URL at PyTorch's CPU or CUDA wheel index to choose the build; left empty,
# pip takes the registry's default build.
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL=""
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"; \
    else \
        pip install "$TORCH_SPEC"; \
    fi

COPY . .
RUN pip install -e . && mkdir -p /data

EXPOSE 8000
CMD ["python", "manage.py", "runweb", "--bind", "0.0.0.0:8000"]
